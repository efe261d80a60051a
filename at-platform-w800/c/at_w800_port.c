/*
 * at_w800_port.c: the firmware side of at-platform-w800 (see include/at_w800_port.h).
 *
 * Compile it with the firmware's own lwIP headers (on the W800: the WM IoT SDK's
 * components/lwip). The host build of the crate compiles the very same file against
 * Debian's liblwip-dev and runs it in the tests.
 */
#include "lwip/opt.h"
#include "lwip/sockets.h"
#include "lwip/errno.h"
#ifndef EINPROGRESS
/* lwIP defines the errno values only with LWIP_PROVIDE_ERRNO (the WM IoT SDK sets it for
 * GCC 13 and newer); otherwise they are the C library's. */
#include <errno.h>
#endif

#include "at_w800_port.h"

int at_w800_port_errno(void)
{
    return errno;
}

int at_w800_port_errno_kind(int code)
{
    if (code == 0) {
        return AT_W800_ERR_NONE;
    }
    if (code == EWOULDBLOCK || code == EAGAIN) {
        return AT_W800_ERR_WOULD_BLOCK;
    }
    if (code == EINPROGRESS || code == EALREADY) {
        return AT_W800_ERR_IN_PROGRESS;
    }
    if (code == EISCONN) {
        return AT_W800_ERR_IS_CONNECTED;
    }
    if (code == ECONNRESET || code == ECONNABORTED || code == ENOTCONN || code == EPIPE) {
        return AT_W800_ERR_CONN_LOST;
    }
    if (code == ECONNREFUSED) {
        return AT_W800_ERR_REFUSED;
    }
    return AT_W800_ERR_OTHER;
}

int at_w800_port_set_send_timeout(int s, uint32_t ms)
{
    struct timeval tv;
    tv.tv_sec = (long)(ms / 1000u);
    tv.tv_usec = (long)((ms % 1000u) * 1000u);
    return lwip_setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

uint32_t at_w800_port_random(void)
{
    return (uint32_t)LWIP_RAND();
}

int at_w800_port_get_send_timeout(int s, uint32_t *ms)
{
    struct timeval tv;
    socklen_t len = sizeof(tv);
    int r = lwip_getsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, &len);
    if (r == 0) {
        *ms = (uint32_t)tv.tv_sec * 1000u + (uint32_t)(tv.tv_usec / 1000);
    }
    return r;
}
