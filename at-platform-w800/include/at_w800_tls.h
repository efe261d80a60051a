/*
 * at_w800_tls.h: TLS sessions over lwIP sockets with mbedTLS, for the SSL links of
 * at-platform-w800 (c/at_w800_tls.c).
 *
 * The firmware compiles c/at_w800_tls.c with its own mbedTLS and lwIP headers (the WM
 * IoT SDK's) next to c/at_w800_port.c; the host build compiles it against Debian's
 * libmbedtls-dev (mbedTLS 2.28) and liblwip-dev. Every mbedTLS structure stays inside
 * the C file: the Rust side (src/ffi/tls.rs, checked against this header) only sees
 * session numbers, so mbedTLS 3's private fields and struct sizes never reach it.
 *
 * Sessions live in a static pool of AT_W800_TLS_SESSIONS entries (define it when
 * compiling c/at_w800_tls.c; default 2). mbedTLS allocates its record buffers from its
 * own heap (mbedtls_calloc) at at_w800_tls_start(). All functions must be called from
 * the one task that runs the engine, except on the host, where a mutex guards the pool.
 *
 * Return values: >= 0 success (a count, or a session number), else AT_W800_TLS_E_*.
 */
#ifndef AT_W800_TLS_H
#define AT_W800_TLS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AT_W800_TLS_E_WOULD_BLOCK (-1) /* the socket cannot take or give more now */
#define AT_W800_TLS_E_CLOSED (-2)      /* the peer ended the session (close_notify, EOF) */
#define AT_W800_TLS_E_VERIFY (-3)      /* the peer's certificate failed verification */
#define AT_W800_TLS_E_HANDSHAKE (-4)   /* the handshake failed otherwise */
#define AT_W800_TLS_E_RESOURCES (-5)   /* no free session, or out of memory */
#define AT_W800_TLS_E_CERTIFICATE (-6) /* a certificate, key or CA does not parse */
#define AT_W800_TLS_E_UNSUPPORTED (-7) /* the mbedTLS build lacks the feature */
#define AT_W800_TLS_E_SOCKET (-8)      /* the socket failed: at_w800_tls_socket_error() */
#define AT_W800_TLS_E_STATE (-9)       /* no such session, or the call is out of order */

/* A new session (client, or server when `server` is not 0) over the connected lwIP
 * socket `fd` (-1: none, to check certificates only). Returns its number. */
int at_w800_tls_open(int fd, int server);

/* Checks certificate validity at `unix_time` (seconds since 1970) instead of mbedTLS's
 * own clock (which needs MBEDTLS_HAVE_TIME_DATE and a set time). */
int at_w800_tls_set_time(int session, uint64_t unix_time);

/* Requires the peer's certificate, verified against the CA certificate(s) `ca` (PEM,
 * NUL-terminated or not, or DER). */
int at_w800_tls_trust(int session, const uint8_t *ca, size_t len);

/* The client checks the server's certificate for this DNS name (subjectAltName
 * dNSName, wildcards in the first label; the CN when there is no dNSName). */
int at_w800_tls_expect_name(int session, const uint8_t *name, size_t len);

/* The client checks the server's certificate for this IP address (subjectAltName
 * iPAddress): 4 or 16 bytes. */
int at_w800_tls_expect_ip(int session, const uint8_t *ip, size_t len);

/* Presents the certificate (chain) and its private key (PEM or DER). */
int at_w800_tls_present(int session, const uint8_t *cert, size_t cert_len,
                        const uint8_t *key, size_t key_len);

/* Server Name Indication (client). */
int at_w800_tls_sni(int session, const uint8_t *name, size_t len);

/* ALPN protocols in wire format (each a length byte, then the name). */
int at_w800_tls_alpn(int session, const uint8_t *wire, size_t len);

/* TLS-PSK (TLS 1.2, PSK cipher suites) with this key and identity (client). */
int at_w800_tls_psk(int session, const uint8_t *key, size_t key_len,
                    const uint8_t *identity, size_t identity_len);

/* Ends the configuration: the session is set up over its socket. */
int at_w800_tls_start(int session);

/* Advances the handshake: 0 when complete, AT_W800_TLS_E_WOULD_BLOCK while it waits,
 * else the failure (again on every later call). */
int at_w800_tls_handshake(int session);

/* Encrypts and sends up to `len` bytes; returns how many were taken. A record the
 * socket could not take at once is kept and sent by later calls of any of
 * at_w800_tls_write/_read/_available. */
int at_w800_tls_write(int session, const uint8_t *data, size_t len);

/* Reads plaintext; AT_W800_TLS_E_CLOSED once the peer ended the session. */
int at_w800_tls_read(int session, uint8_t *buf, size_t len);

/* Plaintext bytes a read returns without waiting: decrypts the next record if it has
 * arrived whole (at most one record, 16 KiB, is read ahead). */
int at_w800_tls_available(int session);

/* The errno of the socket failure behind the last AT_W800_TLS_E_SOCKET. */
int at_w800_tls_socket_error(int session);

/* Sends close_notify if the handshake completed and the socket takes it now (best
 * effort, never waits), and frees the session. Does not close the socket. */
int at_w800_tls_close(int session);

/* Sessions in use, and the pool's size (diagnostics, tests). */
int at_w800_tls_sessions_in_use(void);
int at_w800_tls_sessions_max(void);

#ifdef __cplusplus
}
#endif

#endif /* AT_W800_TLS_H */
