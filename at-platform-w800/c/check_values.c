/*
 * Exports the values of lwIP's socket constants and the layout of its structures as the
 * headers define them, for the tests that compare them with src/ffi/lwip.rs. Compiled
 * twice by build.rs: AT_W800_CHECK_PREFIX=posix in Debian's configuration,
 * AT_W800_CHECK_PREFIX=native against lwIP's own sockets.h (the W800's configuration).
 */
#include <stddef.h>
#include <stdint.h>

#include "lwip/opt.h"
#include "lwip/sockets.h"

struct at_w800_check_value {
    const char *name;
    long long value;
};

#define V(x) {#x, (long long)(x)}
#define SIZE(t) {"sizeof " #t, (long long)sizeof(t)}
#define ALIGN(t) {"alignof " #t, (long long)_Alignof(t)}
#define OFF(t, f) {"offsetof " #t " " #f, (long long)offsetof(t, f)}

static const struct at_w800_check_value values[] = {
    V(AF_UNSPEC), V(AF_INET), V(AF_INET6),
    V(SOCK_STREAM), V(SOCK_DGRAM), V(SOCK_RAW),
    V(IPPROTO_IP), V(IPPROTO_ICMP), V(IPPROTO_TCP), V(IPPROTO_UDP),
    V(SOL_SOCKET), V(SO_REUSEADDR), V(SO_KEEPALIVE), V(SO_BROADCAST), V(SO_LINGER),
    V(SO_SNDTIMEO), V(SO_RCVTIMEO), V(SO_ERROR), V(SO_TYPE),
    V(TCP_NODELAY), V(TCP_KEEPIDLE), V(TCP_KEEPINTVL), V(TCP_KEEPCNT),
    V(IP_MULTICAST_IF), V(IP_MULTICAST_LOOP), V(IP_ADD_MEMBERSHIP),
    V(MSG_PEEK), V(MSG_DONTWAIT), V(MSG_NOSIGNAL),
    V(F_GETFL), V(F_SETFL), V(O_NONBLOCK), V(FIONREAD), V(SHUT_RDWR),
    V(POLLIN), V(POLLOUT), V(POLLERR), V(POLLNVAL), V(POLLHUP),
    SIZE(socklen_t), SIZE(nfds_t), SIZE(ssize_t), SIZE(size_t),
    SIZE(struct in_addr), SIZE(struct in6_addr), ALIGN(struct in6_addr),
    SIZE(struct sockaddr_in), OFF(struct sockaddr_in, sin_family),
    OFF(struct sockaddr_in, sin_port), OFF(struct sockaddr_in, sin_addr),
    SIZE(struct sockaddr_storage), ALIGN(struct sockaddr_storage),
    SIZE(struct pollfd), OFF(struct pollfd, events), OFF(struct pollfd, revents),
    SIZE(struct linger), OFF(struct linger, l_linger),
    SIZE(struct ip_mreq), OFF(struct ip_mreq, imr_interface),
#if LWIP_IPV6
    /* The WM IoT SDK builds without IPv6 by default (CONFIG_LWIP_ENABLE_IPV6=n): then
     * none of these exist, AF_INET6 is AF_UNSPEC and sockaddr_storage is 16 bytes. */
    V(IPPROTO_IPV6), V(IPV6_V6ONLY), V(IPV6_ADD_MEMBERSHIP),
    SIZE(struct sockaddr_in6), OFF(struct sockaddr_in6, sin6_family),
    OFF(struct sockaddr_in6, sin6_port), OFF(struct sockaddr_in6, sin6_flowinfo),
    OFF(struct sockaddr_in6, sin6_addr), OFF(struct sockaddr_in6, sin6_scope_id),
    SIZE(struct ipv6_mreq), OFF(struct ipv6_mreq, ipv6mr_interface),
#endif
};

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)

const struct at_w800_check_value *CAT(at_w800_check_values_, AT_W800_CHECK_PREFIX)(size_t *count);

const struct at_w800_check_value *CAT(at_w800_check_values_, AT_W800_CHECK_PREFIX)(size_t *count)
{
    *count = sizeof(values) / sizeof(values[0]);
    return values;
}
