/*
 * at_w800_port.h: what at-platform-w800 needs from the firmware beyond lwIP's socket
 * API, implemented in C against the firmware's own headers (c/at_w800_port.c).
 *
 * These functions exist because their answers depend on how the firmware's C library
 * and lwIP are configured, not on lwIP alone: the value and location of errno, and the
 * layout of struct timeval. Compile c/at_w800_port.c into the firmware image together
 * with the staticlib. The Rust side declares the same prototypes (src/ffi/port.rs);
 * the host build checks them against this header.
 */
#ifndef AT_W800_PORT_H
#define AT_W800_PORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Kinds of socket errors, as at_w800_port_errno_kind() reports them. */
#define AT_W800_ERR_NONE 0         /* 0: no error */
#define AT_W800_ERR_WOULD_BLOCK 1  /* EWOULDBLOCK, EAGAIN */
#define AT_W800_ERR_IN_PROGRESS 2  /* EINPROGRESS, EALREADY */
#define AT_W800_ERR_IS_CONNECTED 3 /* EISCONN */
#define AT_W800_ERR_CONN_LOST 4    /* ECONNRESET, ECONNABORTED, ENOTCONN, EPIPE */
#define AT_W800_ERR_REFUSED 5      /* ECONNREFUSED */
#define AT_W800_ERR_OTHER 6        /* anything else */

/* errno as lwIP's socket functions left it on this thread. */
int at_w800_port_errno(void);

/* The kind (AT_W800_ERR_*) of an errno value or an SO_ERROR value. */
int at_w800_port_errno_kind(int code);

/* SO_SNDTIMEO in milliseconds (0: none); lwIP's return value. */
int at_w800_port_set_send_timeout(int s, uint32_t ms);

/* Reads SO_SNDTIMEO back in milliseconds; lwIP's return value. */
int at_w800_port_get_send_timeout(int s, uint32_t *ms);

/* 32 random bits for the engine's DNS query IDs and SNTP request times: the
 * firmware's LWIP_RAND(), the source lwIP's own DNS client draws its IDs from, so define
 * it from the hardware RNG (an unseeded rand() gives every boot the same IDs). */
uint32_t at_w800_port_random(void);

/* ---- The Wi-Fi station (W800 firmware only: c/at_w800_port_wifi.c over wm_wifi.h) ---- */

/* An access point; all bytes, so its layout is the same for every compiler. */
typedef struct at_w800_port_ap {
    uint8_t ssid_len;   /* 0..32 */
    uint8_t ssid[32];
    uint8_t bssid[6];
    uint8_t channel;
    int8_t rssi;        /* dBm */
    uint8_t encryption; /* 0 open, 1 WEP, 2 WPA_PSK, 3 WPA2_PSK, 4 WPA_WPA2_PSK, ... */
} at_w800_port_ap_t;

_Static_assert(sizeof(at_w800_port_ap_t) == 42, "at_w800_port_ap_t is 42 bytes");

/* States of a join, as at_w800_port_wifi_join_state() reports them. */
#define AT_W800_WIFI_IDLE 0           /* not joining, not joined */
#define AT_W800_WIFI_JOINING 1        /* under way */
#define AT_W800_WIFI_GOT_IP 2         /* joined, with an IPv4 address */
#define AT_W800_WIFI_TIMEOUT 3        /* failed: no answer */
#define AT_W800_WIFI_WRONG_PASSWORD 4 /* failed: wrong password */
#define AT_W800_WIFI_NO_AP 5          /* failed: no such access point */
#define AT_W800_WIFI_FAILED 6         /* failed: anything else */

/* Starts joining (leaving any current access point); bssid may be NULL. 0 if started. */
int at_w800_port_wifi_join(const uint8_t *ssid, size_t ssid_len, const uint8_t *password,
                           size_t password_len, const uint8_t *bssid);

/* AT_W800_WIFI_* of the last join. */
int at_w800_port_wifi_join_state(void);

/* Leaves the access point (nothing when not joined). */
void at_w800_port_wifi_leave(void);

/* The index-th access point of a fresh scan (index 0 starts the scan, blocking);
 * 1 if *ap was filled, 0 past the end. */
int at_w800_port_wifi_scan(uint32_t index, at_w800_port_ap_t *ap);

/* The joined access point: 1 if *ap was filled, 0 when not joined. */
int at_w800_port_wifi_joined(at_w800_port_ap_t *ap);

/* The station's IPv4 settings (network byte order): 1 if it has an address. */
int at_w800_port_wifi_ipv4(uint32_t *ip, uint32_t *gateway, uint32_t *netmask);

/* The station's MAC address. */
void at_w800_port_wifi_mac(uint8_t *mac);

/* 1 once after the link to the access point was lost, else 0. */
int at_w800_port_wifi_take_disconnect(void);

#ifdef __cplusplus
}
#endif

#endif /* AT_W800_PORT_H */
