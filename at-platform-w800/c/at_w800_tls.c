/*
 * at_w800_tls.c: TLS sessions over lwIP sockets with mbedTLS (see include/at_w800_tls.h).
 *
 * Compile it into the firmware with the SDK's mbedTLS and lwIP include paths (like
 * c/at_w800_port.c). The host build of the crate compiles the same file against
 * Debian's libmbedtls-dev (2.28) and liblwip-dev and runs it in tests/tls.rs.
 *
 * What the firmware's mbedTLS configuration needs: MBEDTLS_SSL_CLI_C and _SRV_C,
 * MBEDTLS_X509_CRT_PARSE_C, MBEDTLS_PEM_PARSE_C, MBEDTLS_CTR_DRBG_C, MBEDTLS_ENTROPY_C
 * with a source (the W800 SDK's hardware RNG through MBEDTLS_ENTROPY_HARDWARE_ALT);
 * optional: MBEDTLS_SSL_ALPN, MBEDTLS_SSL_SERVER_NAME_INDICATION, a PSK key exchange
 * (otherwise those settings answer AT_W800_TLS_E_UNSUPPORTED). Certificate validity is
 * checked here against the time the engine passes (at_w800_tls_set_time, from SNTP),
 * so MBEDTLS_HAVE_TIME_DATE is not needed; without a time the check is mbedTLS's own
 * (none when MBEDTLS_HAVE_TIME_DATE is off).
 */
#include <limits.h>
#include <string.h>

#include "mbedtls/ctr_drbg.h"
#include "mbedtls/entropy.h"
#include "mbedtls/net_sockets.h"
#include "mbedtls/oid.h"
#include "mbedtls/pk.h"
#include "mbedtls/platform.h"
#include "mbedtls/ssl.h"
#include "mbedtls/version.h"
#include "mbedtls/x509_crt.h"
#if MBEDTLS_VERSION_MAJOR >= 3 && defined(MBEDTLS_PSA_CRYPTO_C)
#include "psa/crypto.h"
#endif

/* lwIP after mbedTLS: lwIP's socket macros must not rename anything in mbedTLS's headers. */
#include "lwip/opt.h"
#include "lwip/sockets.h"
#include "lwip/errno.h"
#ifndef EINPROGRESS
#include <errno.h>
#endif

#include "at_w800_tls.h"

#ifndef AT_W800_TLS_SESSIONS
#define AT_W800_TLS_SESSIONS 2
#endif

/* Longest DNS name (verification, SNI). */
#define NAME_MAX_LEN 253
/* ALPN: at most this many protocols, in this many bytes with their NULs. */
#define ALPN_MAX 8
#define ALPN_BYTES 160

#ifdef AT_W800_TLS_HOST
#include <pthread.h>
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
#define POOL_LOCK() pthread_mutex_lock(&pool_lock)
#define POOL_UNLOCK() pthread_mutex_unlock(&pool_lock)
#else
/* The firmware calls everything from the AT task. */
#define POOL_LOCK() ((void)0)
#define POOL_UNLOCK() ((void)0)
#endif

enum expect { EXPECT_NONE, EXPECT_DNS, EXPECT_IP };

struct session {
    int in_use;
    int fd;
    int server;
    int started;
    int done;     /* handshake complete */
    int failed;   /* AT_W800_TLS_E_* of a failed handshake, else 0 */
    int ended;    /* the peer ended the session */
    int flushing; /* a record the socket did not take whole waits in mbedTLS */
    int verify;   /* the peer's certificate is required and verified */
    int sock_errno;
    int have_time;
    long long now;
    enum expect expect;
    size_t name_len;
    char name[NAME_MAX_LEN + 1];
    unsigned char ip[16];
    size_t ip_len;
    int have_sni;
    char sni[NAME_MAX_LEN + 1];
    char alpn_names[ALPN_BYTES];
    const char *alpn[ALPN_MAX + 1];
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt ca;
    mbedtls_x509_crt own;
    mbedtls_pk_context key;
};

static struct session pool[AT_W800_TLS_SESSIONS];
static mbedtls_entropy_context entropy;
static int entropy_ready;

/* TLS 1.2 PSK cipher suites, strongest first (those the build lacks are skipped). */
static const int psk_suites[] = {
#ifdef MBEDTLS_TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256
    MBEDTLS_TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256,
#endif
    MBEDTLS_TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA384,
    MBEDTLS_TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256,
    MBEDTLS_TLS_PSK_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_PSK_WITH_AES_128_GCM_SHA256,
#ifdef MBEDTLS_TLS_PSK_WITH_CHACHA20_POLY1305_SHA256
    MBEDTLS_TLS_PSK_WITH_CHACHA20_POLY1305_SHA256,
#endif
    MBEDTLS_TLS_PSK_WITH_AES_256_CBC_SHA384,
    MBEDTLS_TLS_PSK_WITH_AES_128_CBC_SHA256,
    MBEDTLS_TLS_PSK_WITH_AES_256_CBC_SHA,
    MBEDTLS_TLS_PSK_WITH_AES_128_CBC_SHA,
    0,
};

static struct session *get(int id)
{
    if (id < 0 || id >= AT_W800_TLS_SESSIONS || !pool[id].in_use) {
        return NULL;
    }
    return &pool[id];
}

/* A configurable session: opened, not started. */
static struct session *configurable(int id)
{
    struct session *s = get(id);
    return (s != NULL && !s->started) ? s : NULL;
}

/* A session whose handshake completed. */
static struct session *ready(int id)
{
    struct session *s = get(id);
    return (s != NULL && s->done) ? s : NULL;
}

/* ---------------------------------------------------------------------------------- */
/* The socket under mbedTLS */

static int is_would_block(int e)
{
    return e == EWOULDBLOCK || e == EAGAIN;
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    struct session *s = ctx;
    ssize_t n = lwip_send(s->fd, buf, len, MSG_DONTWAIT);
    if (n >= 0) {
        return (int)n;
    }
    if (is_would_block(errno)) {
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    }
    s->sock_errno = errno;
    return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    struct session *s = ctx;
    ssize_t n = lwip_recv(s->fd, buf, len, MSG_DONTWAIT);
    if (n >= 0) {
        return (int)n; /* 0: end of stream */
    }
    if (is_would_block(errno)) {
        return MBEDTLS_ERR_SSL_WANT_READ;
    }
    s->sock_errno = errno;
    return MBEDTLS_ERR_NET_RECV_FAILED;
}

/* ---------------------------------------------------------------------------------- */
/* Certificate checks the shim makes itself: validity at the engine's time, the name */

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    long long era;
    unsigned yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153u * (m > 2 ? m - 3 : m + 9) + 2u) / 5u + d - 1u;
    doe = yoe * 365u + yoe / 4u - yoe / 100u + doy;
    return era * 146097 + (long long)doe - 719468;
}

static long long unix_of(const mbedtls_x509_time *t)
{
    return days_from_civil(t->year, (unsigned)t->mon, (unsigned)t->day) * 86400 +
           (long long)t->hour * 3600 + (long long)t->min * 60 + t->sec;
}

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

static int same_name(const unsigned char *a, size_t alen, const char *b, size_t blen)
{
    size_t i;
    if (alen != blen) {
        return 0;
    }
    for (i = 0; i < alen; i++) {
        if (lower(a[i]) != lower((unsigned char)b[i])) {
            return 0;
        }
    }
    return 1;
}

/* A certificate's DNS name (maybe "*.rest") against the expected name. */
static int dns_matches(const unsigned char *pattern, size_t plen, const char *name, size_t nlen)
{
    if (plen > 2 && pattern[0] == '*' && pattern[1] == '.') {
        const char *dot = memchr(name, '.', nlen);
        if (dot == NULL || dot == name) {
            return 0;
        }
        return same_name(pattern + 1, plen - 1, dot, nlen - (size_t)(dot - name));
    }
    return same_name(pattern, plen, name, nlen);
}

static int name_matches(const struct session *s, const mbedtls_x509_crt *crt)
{
    const mbedtls_x509_sequence *san;
    const mbedtls_x509_name *n;
    int had_dns = 0;
    for (san = &crt->subject_alt_names; san != NULL && san->buf.p != NULL; san = san->next) {
        int type = san->buf.tag & MBEDTLS_ASN1_TAG_VALUE_MASK;
        if (type == 2) { /* dNSName */
            had_dns = 1;
            if (s->expect == EXPECT_DNS &&
                dns_matches(san->buf.p, san->buf.len, s->name, s->name_len)) {
                return 1;
            }
        } else if (type == 7) { /* iPAddress */
            if (s->expect == EXPECT_IP && san->buf.len == s->ip_len &&
                memcmp(san->buf.p, s->ip, s->ip_len) == 0) {
                return 1;
            }
        }
    }
    if (s->expect != EXPECT_DNS || had_dns) {
        return 0;
    }
    for (n = &crt->subject; n != NULL; n = n->next) {
        if (n->oid.p != NULL && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0 &&
            dns_matches(n->val.p, n->val.len, s->name, s->name_len)) {
            return 1;
        }
    }
    return 0;
}

/* Called by mbedTLS for every certificate of the chain (depth 0: the peer's). mbedTLS
 * checked the name set with mbedtls_ssl_set_hostname (the SNI, which may differ): that
 * verdict is replaced by the shim's check of the expected name or address. */
static int verify_cb(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    struct session *s = ctx;
    if (s->have_time) {
        *flags &= ~(uint32_t)(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE);
        if (unix_of(&crt->valid_from) > s->now) {
            *flags |= MBEDTLS_X509_BADCERT_FUTURE;
        }
        if (unix_of(&crt->valid_to) < s->now) {
            *flags |= MBEDTLS_X509_BADCERT_EXPIRED;
        }
    }
    if (depth == 0 && !s->server) {
        *flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
        if (s->expect != EXPECT_NONE && !name_matches(s, crt)) {
            *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Parsing certificates and keys */

static int looks_like_pem(const uint8_t *data, size_t len)
{
    static const char begin[] = "-----BEGIN ";
    size_t i, n = sizeof begin - 1;
    for (i = 0; i + n <= len; i++) {
        if (memcmp(data + i, begin, n) == 0) {
            return 1;
        }
    }
    return 0;
}

/* mbedTLS reads PEM only with its terminating NUL counted in the length: PEM without
 * one is copied (mbedTLS's heap) with a NUL added. DER passes as it is. */
static const unsigned char *parsable(const uint8_t *data, size_t len, size_t *out_len,
                                     unsigned char **copy)
{
    *copy = NULL;
    *out_len = len;
    if (len == 0 || data[len - 1] == 0 || !looks_like_pem(data, len)) {
        return data;
    }
    *copy = mbedtls_calloc(1, len + 1);
    if (*copy == NULL) {
        return NULL;
    }
    memcpy(*copy, data, len);
    *out_len = len + 1;
    return *copy;
}

static int parse_certs(mbedtls_x509_crt *chain, const uint8_t *data, size_t len)
{
    unsigned char *copy;
    size_t n;
    const unsigned char *buf;
    int ret;
    if (data == NULL || len == 0) {
        return AT_W800_TLS_E_CERTIFICATE;
    }
    buf = parsable(data, len, &n, &copy);
    if (buf == NULL) {
        return AT_W800_TLS_E_RESOURCES;
    }
    ret = mbedtls_x509_crt_parse(chain, buf, n);
    mbedtls_free(copy);
    /* A positive value counts certificates that did not parse next to some that did. */
    if (ret < 0 || chain->version == 0) {
        return AT_W800_TLS_E_CERTIFICATE;
    }
    return 0;
}

static int parse_key(struct session *s, const uint8_t *data, size_t len)
{
    unsigned char *copy;
    size_t n;
    const unsigned char *buf;
    int ret;
    if (data == NULL || len == 0) {
        return AT_W800_TLS_E_CERTIFICATE;
    }
    buf = parsable(data, len, &n, &copy);
    if (buf == NULL) {
        return AT_W800_TLS_E_RESOURCES;
    }
#if MBEDTLS_VERSION_MAJOR >= 3
    ret = mbedtls_pk_parse_key(&s->key, buf, n, NULL, 0, mbedtls_ctr_drbg_random, &s->drbg);
#else
    ret = mbedtls_pk_parse_key(&s->key, buf, n, NULL, 0);
#endif
    mbedtls_free(copy);
    return ret == 0 ? 0 : AT_W800_TLS_E_CERTIFICATE;
}

/* ---------------------------------------------------------------------------------- */
/* The pool */

static void release(struct session *s)
{
    mbedtls_ssl_free(&s->ssl);
    mbedtls_ssl_config_free(&s->conf);
    mbedtls_ctr_drbg_free(&s->drbg);
    mbedtls_x509_crt_free(&s->ca);
    mbedtls_x509_crt_free(&s->own);
    mbedtls_pk_free(&s->key);
    POOL_LOCK();
    s->in_use = 0;
    POOL_UNLOCK();
}

int at_w800_tls_open(int fd, int server)
{
    static const unsigned char personal[] = "at-platform-w800";
    struct session *s = NULL;
    int id, ret;

    POOL_LOCK();
    if (!entropy_ready) {
#if MBEDTLS_VERSION_MAJOR >= 3 && defined(MBEDTLS_PSA_CRYPTO_C)
        (void)psa_crypto_init();
#endif
        mbedtls_entropy_init(&entropy);
        entropy_ready = 1;
    }
    for (id = 0; id < AT_W800_TLS_SESSIONS; id++) {
        if (!pool[id].in_use) {
            s = &pool[id];
            memset(s, 0, sizeof *s);
            s->in_use = 1;
            break;
        }
    }
    POOL_UNLOCK();
    if (s == NULL) {
        return AT_W800_TLS_E_RESOURCES;
    }
    s->fd = fd;
    s->server = server != 0;
    mbedtls_ssl_init(&s->ssl);
    mbedtls_ssl_config_init(&s->conf);
    mbedtls_ctr_drbg_init(&s->drbg);
    mbedtls_x509_crt_init(&s->ca);
    mbedtls_x509_crt_init(&s->own);
    mbedtls_pk_init(&s->key);

    ret = mbedtls_ctr_drbg_seed(&s->drbg, mbedtls_entropy_func, &entropy, personal,
                                sizeof personal - 1);
    if (ret == 0) {
        ret = mbedtls_ssl_config_defaults(&s->conf,
                                          s->server ? MBEDTLS_SSL_IS_SERVER
                                                    : MBEDTLS_SSL_IS_CLIENT,
                                          MBEDTLS_SSL_TRANSPORT_STREAM,
                                          MBEDTLS_SSL_PRESET_DEFAULT);
    }
    if (ret != 0) {
        release(s);
        return AT_W800_TLS_E_RESOURCES;
    }
    mbedtls_ssl_conf_rng(&s->conf, mbedtls_ctr_drbg_random, &s->drbg);
    mbedtls_ssl_conf_authmode(&s->conf, MBEDTLS_SSL_VERIFY_NONE);
    mbedtls_ssl_conf_verify(&s->conf, verify_cb, s);
    return id;
}

int at_w800_tls_set_time(int id, uint64_t unix_time)
{
    struct session *s = configurable(id);
    if (s == NULL) {
        return AT_W800_TLS_E_STATE;
    }
    s->have_time = 1;
    s->now = unix_time > (uint64_t)LLONG_MAX ? LLONG_MAX : (long long)unix_time;
    return 0;
}

int at_w800_tls_trust(int id, const uint8_t *ca, size_t len)
{
    struct session *s = configurable(id);
    int ret;
    if (s == NULL) {
        return AT_W800_TLS_E_STATE;
    }
    ret = parse_certs(&s->ca, ca, len);
    if (ret != 0) {
        return ret;
    }
    mbedtls_ssl_conf_ca_chain(&s->conf, &s->ca, NULL);
    mbedtls_ssl_conf_authmode(&s->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    s->verify = 1;
    return 0;
}

int at_w800_tls_expect_name(int id, const uint8_t *name, size_t len)
{
    struct session *s = configurable(id);
    if (s == NULL || s->server) {
        return AT_W800_TLS_E_STATE;
    }
    if (len == 0 || len > NAME_MAX_LEN || memchr(name, 0, len) != NULL) {
        return AT_W800_TLS_E_VERIFY;
    }
    memcpy(s->name, name, len);
    s->name[len] = 0;
    s->name_len = len;
    s->expect = EXPECT_DNS;
    return 0;
}

int at_w800_tls_expect_ip(int id, const uint8_t *ip, size_t len)
{
    struct session *s = configurable(id);
    if (s == NULL || s->server) {
        return AT_W800_TLS_E_STATE;
    }
    if (len != 4 && len != 16) {
        return AT_W800_TLS_E_VERIFY;
    }
    memcpy(s->ip, ip, len);
    s->ip_len = len;
    s->expect = EXPECT_IP;
    return 0;
}

int at_w800_tls_present(int id, const uint8_t *cert, size_t cert_len, const uint8_t *key,
                        size_t key_len)
{
    struct session *s = configurable(id);
    int ret;
    if (s == NULL) {
        return AT_W800_TLS_E_STATE;
    }
    ret = parse_certs(&s->own, cert, cert_len);
    if (ret == 0) {
        ret = parse_key(s, key, key_len);
    }
    if (ret != 0) {
        return ret;
    }
#if MBEDTLS_VERSION_MAJOR >= 3
    ret = mbedtls_pk_check_pair(&s->own.pk, &s->key, mbedtls_ctr_drbg_random, &s->drbg);
#else
    ret = mbedtls_pk_check_pair(&s->own.pk, &s->key);
#endif
    if (ret != 0) {
        return AT_W800_TLS_E_CERTIFICATE;
    }
    return mbedtls_ssl_conf_own_cert(&s->conf, &s->own, &s->key) == 0
               ? 0
               : AT_W800_TLS_E_RESOURCES;
}

int at_w800_tls_sni(int id, const uint8_t *name, size_t len)
{
    struct session *s = configurable(id);
    if (s == NULL || s->server) {
        return AT_W800_TLS_E_STATE;
    }
#ifdef MBEDTLS_SSL_SERVER_NAME_INDICATION
    if (len == 0 || len > NAME_MAX_LEN || memchr(name, 0, len) != NULL) {
        return AT_W800_TLS_E_UNSUPPORTED;
    }
    memcpy(s->sni, name, len);
    s->sni[len] = 0;
    s->have_sni = 1;
    return 0;
#else
    (void)name;
    (void)len;
    return AT_W800_TLS_E_UNSUPPORTED;
#endif
}

int at_w800_tls_alpn(int id, const uint8_t *wire, size_t len)
{
    struct session *s = configurable(id);
    if (s == NULL) {
        return AT_W800_TLS_E_STATE;
    }
#ifdef MBEDTLS_SSL_ALPN
    {
        size_t at = 0, used = 0, count = 0;
        while (at < len) {
            size_t n = wire[at];
            if (n == 0 || at + 1 + n > len || count == ALPN_MAX || used + n + 1 > ALPN_BYTES) {
                return AT_W800_TLS_E_UNSUPPORTED;
            }
            memcpy(s->alpn_names + used, wire + at + 1, n);
            s->alpn_names[used + n] = 0;
            s->alpn[count++] = s->alpn_names + used;
            used += n + 1;
            at += n + 1;
        }
        s->alpn[count] = NULL;
        if (count == 0) {
            return 0;
        }
        return mbedtls_ssl_conf_alpn_protocols(&s->conf, s->alpn) == 0
                   ? 0
                   : AT_W800_TLS_E_UNSUPPORTED;
    }
#else
    (void)wire;
    return len == 0 ? 0 : AT_W800_TLS_E_UNSUPPORTED;
#endif
}

int at_w800_tls_psk(int id, const uint8_t *key, size_t key_len, const uint8_t *identity,
                    size_t identity_len)
{
    struct session *s = configurable(id);
    if (s == NULL || s->server) {
        return AT_W800_TLS_E_STATE;
    }
#if defined(MBEDTLS_KEY_EXCHANGE_PSK_ENABLED) || defined(MBEDTLS_KEY_EXCHANGE_ECDHE_PSK_ENABLED)
    if (mbedtls_ssl_conf_psk(&s->conf, key, key_len, identity, identity_len) != 0) {
        return AT_W800_TLS_E_UNSUPPORTED;
    }
    mbedtls_ssl_conf_ciphersuites(&s->conf, psk_suites);
#if MBEDTLS_VERSION_MAJOR >= 3
    mbedtls_ssl_conf_max_tls_version(&s->conf, MBEDTLS_SSL_VERSION_TLS1_2);
#else
    mbedtls_ssl_conf_max_version(&s->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
#endif
    return 0;
#else
    (void)key;
    (void)key_len;
    (void)identity;
    (void)identity_len;
    (void)psk_suites;
    return AT_W800_TLS_E_UNSUPPORTED;
#endif
}

int at_w800_tls_start(int id)
{
    struct session *s = configurable(id);
    if (s == NULL || s->fd < 0) {
        return AT_W800_TLS_E_STATE;
    }
    if (mbedtls_ssl_setup(&s->ssl, &s->conf) != 0) {
        return AT_W800_TLS_E_RESOURCES;
    }
    if (!s->server) {
        /* The SNI; NULL says explicitly that there is none (mbedTLS 3.6.3 and later
         * refuse to verify without a hostname unless told so). The name check itself
         * is verify_cb's. */
#ifdef MBEDTLS_SSL_SERVER_NAME_INDICATION
        if (mbedtls_ssl_set_hostname(&s->ssl, s->have_sni ? s->sni : NULL) != 0) {
            return AT_W800_TLS_E_RESOURCES;
        }
#else
        (void)mbedtls_ssl_set_hostname(&s->ssl, NULL);
#endif
    }
    mbedtls_ssl_set_bio(&s->ssl, s, bio_send, bio_recv, NULL);
    s->started = 1;
    return 0;
}

/* A failed read or write: the socket's error, the peer's end, or a TLS failure. */
static int failure(struct session *s, int ret)
{
    if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
        return AT_W800_TLS_E_WOULD_BLOCK;
    }
#ifdef MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET
    /* TLS 1.3 (mbedTLS 3): a ticket was processed; the data comes with the next call. */
    if (ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
        return AT_W800_TLS_E_WOULD_BLOCK;
    }
#endif
    if (ret == 0 || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || ret == MBEDTLS_ERR_SSL_CONN_EOF) {
        s->ended = 1;
        return AT_W800_TLS_E_CLOSED;
    }
    if (ret == MBEDTLS_ERR_NET_SEND_FAILED || ret == MBEDTLS_ERR_NET_RECV_FAILED) {
        return AT_W800_TLS_E_SOCKET;
    }
    return AT_W800_TLS_E_HANDSHAKE;
}

int at_w800_tls_handshake(int id)
{
    struct session *s = get(id);
    int ret;
    if (s == NULL || !s->started) {
        return AT_W800_TLS_E_STATE;
    }
    if (s->done) {
        return 0;
    }
    if (s->failed != 0) {
        return s->failed;
    }
    ret = mbedtls_ssl_handshake(&s->ssl);
    if (ret == 0) {
        s->done = 1;
        return 0;
    }
    if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
        return AT_W800_TLS_E_WOULD_BLOCK;
    }
    if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED
#ifdef MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE
        || ret == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE
#endif
    ) {
        s->failed = AT_W800_TLS_E_VERIFY;
    } else if (s->verify && mbedtls_ssl_get_verify_result(&s->ssl) != 0 &&
               mbedtls_ssl_get_verify_result(&s->ssl) != UINT32_MAX) {
        /* A certificate check failed, whatever error the protocol path reported. */
        s->failed = AT_W800_TLS_E_VERIFY;
    } else if (ret == MBEDTLS_ERR_NET_SEND_FAILED || ret == MBEDTLS_ERR_NET_RECV_FAILED) {
        s->failed = AT_W800_TLS_E_SOCKET;
    } else {
        s->failed = AT_W800_TLS_E_HANDSHAKE;
    }
    return s->failed;
}

/* Sends what is left of a record mbedTLS kept after WANT_WRITE. While output is
 * pending, mbedtls_ssl_write only flushes it and never reads its buffer (ssl_write_real
 * in 2.28 and 3.x), so a one-byte stand-in serves. */
static int flush_pending(struct session *s)
{
    static const unsigned char stand_in[1];
    int ret;
    if (!s->flushing) {
        return 0;
    }
    ret = mbedtls_ssl_write(&s->ssl, stand_in, 1);
    if (ret >= 0) {
        s->flushing = 0;
        return 0;
    }
    return failure(s, ret);
}

int at_w800_tls_write(int id, const uint8_t *data, size_t len)
{
    struct session *s = ready(id);
    int ret, max;
    size_t n;
    if (s == NULL) {
        return AT_W800_TLS_E_STATE;
    }
    ret = flush_pending(s);
    if (ret != 0) {
        return ret;
    }
    if (len == 0) {
        return 0;
    }
    max = mbedtls_ssl_get_max_out_record_payload(&s->ssl);
    if (max <= 0) {
        return AT_W800_TLS_E_HANDSHAKE;
    }
    n = len < (size_t)max ? len : (size_t)max;
    ret = mbedtls_ssl_write(&s->ssl, data, n);
    if (ret >= 0) {
        return ret;
    }
    if (ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
        /* The record holds the data; later calls send the rest of it. */
        s->flushing = 1;
        return (int)n;
    }
    return failure(s, ret);
}

int at_w800_tls_read(int id, uint8_t *buf, size_t len)
{
    struct session *s = ready(id);
    int ret;
    if (s == NULL) {
        return AT_W800_TLS_E_STATE;
    }
    ret = flush_pending(s);
    if (ret != 0 && ret != AT_W800_TLS_E_WOULD_BLOCK) {
        return ret;
    }
    if (len == 0) {
        return 0;
    }
    if (s->ended) {
        return AT_W800_TLS_E_CLOSED;
    }
    if (len > INT_MAX) {
        len = INT_MAX;
    }
    for (;;) {
        ret = mbedtls_ssl_read(&s->ssl, buf, len);
        if (ret > 0) {
            return ret;
        }
#ifdef MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET
        if (ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
            continue;
        }
#endif
        return failure(s, ret);
    }
}

int at_w800_tls_available(int id)
{
    struct session *s = ready(id);
    size_t avail;
    int ret;
    if (s == NULL) {
        return AT_W800_TLS_E_STATE;
    }
    ret = flush_pending(s);
    if (ret != 0 && ret != AT_W800_TLS_E_WOULD_BLOCK) {
        return ret;
    }
    avail = mbedtls_ssl_get_bytes_avail(&s->ssl);
    if (avail == 0 && !s->ended) {
        /* A read of 0 bytes decrypts the next record if it arrived whole, and keeps
         * its plaintext for the next read. */
        unsigned char none[1];
        ret = mbedtls_ssl_read(&s->ssl, none, 0);
        avail = mbedtls_ssl_get_bytes_avail(&s->ssl);
        if (ret < 0 && avail == 0) {
            ret = failure(s, ret);
            if (ret != AT_W800_TLS_E_WOULD_BLOCK && ret != AT_W800_TLS_E_CLOSED) {
                return ret;
            }
        }
    }
    return avail > (size_t)INT_MAX ? INT_MAX : (int)avail;
}

int at_w800_tls_socket_error(int id)
{
    struct session *s = get(id);
    return s != NULL ? s->sock_errno : 0;
}

int at_w800_tls_close(int id)
{
    struct session *s = get(id);
    if (s == NULL) {
        return AT_W800_TLS_E_STATE;
    }
    if (s->done && !s->ended && s->failed == 0) {
        if (flush_pending(s) == 0) {
            (void)mbedtls_ssl_close_notify(&s->ssl);
        }
    }
    release(s);
    return 0;
}

int at_w800_tls_sessions_in_use(void)
{
    int id, n = 0;
    POOL_LOCK();
    for (id = 0; id < AT_W800_TLS_SESSIONS; id++) {
        n += pool[id].in_use != 0;
    }
    POOL_UNLOCK();
    return n;
}

int at_w800_tls_sessions_max(void)
{
    return AT_W800_TLS_SESSIONS;
}
