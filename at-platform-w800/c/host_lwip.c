/*
 * host_lwip.c: brings Debian's lwIP (liblwip-dev, the unix port) up on the host for the
 * tests of the host-lwip feature. Not part of the firmware: on the W800 the SDK starts
 * lwIP and the Wi-Fi netif itself.
 *
 * lwIP runs its tcpip thread (tcpip_init) and one netif on a TAP device (the unix
 * port's tapif, told by PRECONFIGURED_TAPIF to attach to an existing device instead of
 * creating and configuring one). The caller makes the device inside a network
 * namespace and enters that namespace first, so the device is found there and every
 * frame lwIP sends stays in it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lwip/opt.h"
#include "lwip/tcpip.h"
#include "lwip/netif.h"
#include "lwip/ip_addr.h"
#include "lwip/sys.h"
#include "netif/tapif.h"

#include "host_lwip.h"

static struct netif tap_netif;
static int lwip_started;

/* Moves the calling thread into the network namespace at `path` (/var/run/netns/NAME).
 * Threads it starts afterwards (lwIP's) inherit it. 0 or -errno. */
int at_w800_host_enter_netns(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    int r = setns(fd, CLONE_NEWNET);
    close(fd);
    return r;
}

static void tcpip_ready(void *arg)
{
    sys_sem_signal((sys_sem_t *)arg);
}

/* Starts lwIP once per process and adds the netif on the TAP device `tap` with the
 * IPv4 address ip/mask (network byte order) and gateway gw, as the default netif; with
 * a link-local IPv6 address from its MAC. 0 on success, 1 if lwIP was already started
 * (nothing changed), negative on failure. */
int at_w800_host_lwip_up(const char *tap, uint32_t ip, uint32_t mask, uint32_t gw)
{
    if (lwip_started) {
        return 1;
    }
    sys_sem_t ready;
    if (sys_sem_new(&ready, 0) != ERR_OK) {
        return -1;
    }
    tcpip_init(tcpip_ready, &ready);
    sys_sem_wait(&ready);
    sys_sem_free(&ready);

    if (setenv("PRECONFIGURED_TAPIF", tap, 1) != 0) {
        return -2;
    }
    ip4_addr_t a, m, g;
    a.addr = ip;
    m.addr = mask;
    g.addr = gw;
    LOCK_TCPIP_CORE();
    struct netif *n = netif_add(&tap_netif, &a, &m, &g, NULL, tapif_init, tcpip_input);
    if (n != NULL) {
        netif_set_default(n);
        netif_create_ip6_linklocal_address(n, 1);
        netif_ip6_addr_set_state(n, 0, IP6_ADDR_PREFERRED);
        netif_set_up(n);
        netif_set_link_up(n);
    }
    UNLOCK_TCPIP_CORE();
    if (n == NULL) {
        return -3;
    }
    lwip_started = 1;
    return 0;
}

/* The netif's MAC address (6 bytes); 0, or -1 before at_w800_host_lwip_up. */
int at_w800_host_lwip_mac(uint8_t *mac)
{
    if (!lwip_started) {
        return -1;
    }
    for (int i = 0; i < 6; i++) {
        mac[i] = tap_netif.hwaddr[i];
    }
    return 0;
}

/* The netif's link-local IPv6 address (16 bytes, network order); 0, or -1. */
int at_w800_host_lwip_ip6_link_local(uint8_t *addr)
{
    if (!lwip_started) {
        return -1;
    }
    const ip6_addr_t *a = netif_ip6_addr(&tap_netif, 0);
    for (int i = 0; i < 4; i++) {
        uint32_t w = a->addr[i];
        for (int b = 0; b < 4; b++) {
            addr[i * 4 + b] = ((const uint8_t *)&w)[b];
        }
    }
    return 0;
}

static char netns_to_delete[64];

static void delete_netns(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "ip netns del %s 2>/dev/null", netns_to_delete);
    if (system(cmd) != 0) {
        /* Nothing to do: the next run deletes namespaces of processes that are gone. */
    }
}

/* Deletes the network namespace `name` (letters, digits, '-') when the process exits. */
int at_w800_host_delete_netns_at_exit(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= sizeof netns_to_delete) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
            return -1;
        }
    }
    memcpy(netns_to_delete, name, n + 1);
    return atexit(delete_netns);
}
