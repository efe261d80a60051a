/*
 * at_w800_port_wifi.c: the Wi-Fi station of at-platform-w800 on the W800 (the
 * at_w800_port_wifi_* functions of include/at_w800_port.h), over the WM IoT SDK's net
 * manager (wm_nm_api.h: joining, DHCP, addresses) and Wi-Fi API (wm_wifi.h: scans, the
 * joined AP, the MAC, disconnect reasons).
 *
 * Firmware only: compile it into the image with the SDK's include paths. There is no
 * W800 toolchain or board on the machines that test this crate; the file was compiled
 * (gcc -fsyntax-only) against the WM IoT SDK v2.4 headers with FreeRTOS stubbed, which
 * checks names and types but not behaviour.
 *
 * Everything here runs on the engine's task except wifi_event(), which the SDK's event
 * task calls: the two share only `last_reason` and `lost_link`, each one word.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

#include "wm_wifi.h"
#include "wm_wifi_event.h"
#include "wm_event.h"
#include "wm_nm_api.h"

#include "at_w800_port.h"

/* Joining gives up after this long without an address (+CWJAP:1). */
#define JOIN_TIMEOUT_TICKS (15000 / portTICK_PERIOD_MS)
/* Access points a scan keeps. */
#define SCAN_MAX 16

static char ssid_buf[33];
static char password_buf[65];
static volatile int last_reason;   /* wm_wifi_reason_code_t of the last disconnect */
static volatile int lost_link;     /* set by a disconnect after GOT_IP */
static volatile int joined_ok;     /* GOT_IP was seen for the current join */
static int joining;
static int state = AT_W800_WIFI_IDLE;
static TickType_t join_started;
static bool events_registered;
static wm_wifi_ap_record_t scan_records[SCAN_MAX];
static uint16_t scan_count;

static void wifi_event(wm_event_group_t group, int event, void *data, void *priv)
{
    (void)group;
    (void)priv;
    if (event == WM_EVENT_WIFI_STA_DISCONNECTED && data != NULL) {
        const wm_wifi_event_data_t *d = (const wm_wifi_event_data_t *)data;
        last_reason = (int)d->sta_disconnected_info.reason;
        if (joined_ok) {
            lost_link = 1;
        }
    }
}

static void copy_ap(const wm_wifi_ap_record_t *r, at_w800_port_ap_t *ap)
{
    size_t len = strnlen((const char *)r->ssid, 32);
    memset(ap, 0, sizeof *ap);
    ap->ssid_len = (uint8_t)len;
    memcpy(ap->ssid, r->ssid, len);
    memcpy(ap->bssid, r->bssid, 6);
    ap->channel = r->primary;
    ap->rssi = r->rssi;
    /* wm_wifi_auth_mode_t starts OPEN, WEP, WPA_PSK, WPA2_PSK, WPA_WPA2_PSK like AT+CWLAP's
     * <ecn>; later modes are passed on as they are. */
    ap->encryption = (uint8_t)r->authmode;
}

int at_w800_port_wifi_join(const uint8_t *ssid, size_t ssid_len, const uint8_t *password,
                           size_t password_len, const uint8_t *bssid)
{
    if (ssid_len == 0 || ssid_len >= sizeof ssid_buf || password_len >= sizeof password_buf) {
        return -1;
    }
    if (bssid != NULL) {
        return -1; /* the net manager joins by SSID only: a BSSID cannot be honoured */
    }
    if (!events_registered) {
        if (wm_event_add_callback(WM_WIFI_EV, WM_EVENT_ANY_TYPE, wifi_event, NULL) != 0) {
            return -1;
        }
        events_registered = true;
    }
    wm_nm_stop_wifi_station();
    memcpy(ssid_buf, ssid, ssid_len);
    ssid_buf[ssid_len] = '\0';
    memcpy(password_buf, password, password_len);
    password_buf[password_len] = '\0';
    wm_nm_wifi_station_cfg_t cfg = {
        .ssid = ssid_buf,
        .password = password_len ? password_buf : NULL,
    };
    last_reason = 0;
    lost_link = 0;
    joined_ok = 0;
    if (wm_nm_start_wifi_station(&cfg) != 0) {
        state = AT_W800_WIFI_FAILED;
        return -1;
    }
    joining = 1;
    join_started = xTaskGetTickCount();
    state = AT_W800_WIFI_JOINING;
    return 0;
}

int at_w800_port_wifi_join_state(void)
{
    if (!joining) {
        return state;
    }
    wm_nm_state_e s = wm_nm_get_wifi_station_state();
    if (s == WM_NM_WIFI_STA_GOT_IP) {
        joining = 0;
        joined_ok = 1;
        state = AT_W800_WIFI_GOT_IP;
    } else if (s == WM_NM_WIFI_STA_DISCONNECTED && last_reason != 0) {
        joining = 0;
        switch (last_reason) {
        case WM_WIFI_REASON_NO_AP_FOUND:
            state = AT_W800_WIFI_NO_AP;
            break;
        case WM_WIFI_REASON_4WAY_HANDSHAKE_TIMEOUT:
        case WM_WIFI_REASON_AUTH_FAIL:
        case WM_WIFI_REASON_MIC_FAILURE:
            state = AT_W800_WIFI_WRONG_PASSWORD;
            break;
        default:
            state = AT_W800_WIFI_FAILED;
            break;
        }
        wm_nm_stop_wifi_station();
    } else if ((TickType_t)(xTaskGetTickCount() - join_started) > JOIN_TIMEOUT_TICKS) {
        joining = 0;
        state = AT_W800_WIFI_TIMEOUT;
        wm_nm_stop_wifi_station();
    }
    return joining ? AT_W800_WIFI_JOINING : state;
}

void at_w800_port_wifi_leave(void)
{
    joining = 0;
    joined_ok = 0;
    lost_link = 0;
    state = AT_W800_WIFI_IDLE;
    wm_nm_stop_wifi_station();
}

int at_w800_port_wifi_scan(uint32_t index, at_w800_port_ap_t *ap)
{
    if (index == 0) {
        uint16_t n = SCAN_MAX;
        scan_count = 0;
        if (wm_wifi_scan_start(NULL, true) != 0 || wm_wifi_scan_get_ap_records(&n, scan_records) != 0) {
            return 0;
        }
        scan_count = n;
    }
    if (index >= scan_count) {
        return 0;
    }
    copy_ap(&scan_records[index], ap);
    return 1;
}

int at_w800_port_wifi_joined(at_w800_port_ap_t *ap)
{
    wm_wifi_ap_record_t r;
    if (state != AT_W800_WIFI_GOT_IP || wm_wifi_sta_get_ap_info(&r) != 0) {
        return 0;
    }
    copy_ap(&r, ap);
    return 1;
}

int at_w800_port_wifi_ipv4(uint32_t *ip, uint32_t *gateway, uint32_t *netmask)
{
    wm_netif_ip_info_t info;
    wm_nm_netif_t netif = wm_nm_get_netif_by_name(WIFI_STATION_NETIF_NAME);
    if (state != AT_W800_WIFI_GOT_IP || (int)netif == WM_NM_INVALID_NETIF ||
        wm_nm_get_netif_ip_info(netif, &info) != 0 || info.ip.u_addr.ip4.addr == 0) {
        return 0;
    }
    *ip = info.ip.u_addr.ip4.addr;
    *gateway = info.gw.u_addr.ip4.addr;
    *netmask = info.netmask.u_addr.ip4.addr;
    return 1;
}

void at_w800_port_wifi_mac(uint8_t *mac)
{
    if (wm_wifi_get_mac(WM_WIFI_IF_STA, mac) != 0) {
        memset(mac, 0, 6);
    }
}

int at_w800_port_wifi_take_disconnect(void)
{
    if (!lost_link) {
        return 0;
    }
    lost_link = 0;
    joined_ok = 0;
    state = AT_W800_WIFI_IDLE;
    return 1;
}
