/* host_lwip.h: the host bring-up glue of c/host_lwip.c (tests of the host-lwip feature). */
#ifndef AT_W800_HOST_LWIP_H
#define AT_W800_HOST_LWIP_H

#include <stdint.h>

int at_w800_host_enter_netns(const char *path);
int at_w800_host_lwip_up(const char *tap, uint32_t ip, uint32_t mask, uint32_t gw);
int at_w800_host_lwip_mac(uint8_t *mac);
int at_w800_host_lwip_ip6_link_local(uint8_t *addr);
int at_w800_host_delete_netns_at_exit(const char *name);

#endif
