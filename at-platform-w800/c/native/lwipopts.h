/*
 * A W800-like lwIP configuration for checking declarations against lwIP's own socket
 * headers (the W800 SDK does not use the C library's): the socket-relevant options of
 * the WM IoT SDK's components/lwip/port/lwipopts.h (v2.4), with IPv6 on (the SDK's
 * CONFIG_LWIP_ENABLE_IPV6, off by default). Only compiled, never linked: the code that
 * runs on the host uses Debian's configuration.
 */
#ifndef AT_W800_NATIVE_LWIPOPTS_H
#define AT_W800_NATIVE_LWIPOPTS_H

#define NO_SYS                      0
#define LWIP_SOCKET                 1
#define LWIP_NETCONN                1
#define LWIP_COMPAT_SOCKETS         2
#define LWIP_SOCKET_SELECT          1
#define LWIP_SOCKET_POLL            1
#define LWIP_SOCKET_OFFSET          1
#define LWIP_SO_LINGER              1
#define LWIP_SO_RCVTIMEO            1
#define LWIP_SO_SNDTIMEO            1
#define LWIP_SO_RCVBUF              1
#define LWIP_TCP_KEEPALIVE          1
#define SO_REUSE                    1
#define LWIP_IPV4                   1
#define LWIP_IPV6                   1
#define LWIP_IPV6_MLD               1
#define LWIP_IGMP                   1
#define LWIP_RAW                    1
#define LWIP_DNS                    1
#define LWIP_TCP                    1
#define LWIP_UDP                    1
#define LWIP_TIMEVAL_PRIVATE        0
#define MEM_ALIGNMENT               4
#define LWIP_PROVIDE_ERRNO          1

#endif
