/*
 * host_board.c: the board_* functions of firmware_loop.c on Linux, so that the pasted
 * firmware loop runs for real against the host build of the library
 * (scripts/w800.sh test links and runs it). The "UART" is a script: the first wait
 * injects AT lines through board_uart_rx_isr(), every write is collected, and the run
 * ends when the last expected answer arrived (exit 0) or after 10 s (exit 1).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "at_w800.h"

void at_task(void *arg);
void board_uart_rx_isr(uint8_t byte);

static char output[8192];
static size_t output_len;
static int waits;

uint32_t board_tick_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)(ts.tv_sec * 1000u + ts.tv_nsec / 1000000);
}

size_t board_uart_write(const uint8_t *data, size_t len)
{
    /* A slow UART: at most 16 bytes a call, the rest is offered again. */
    size_t n = len < 16 ? len : 16;
    if (n > sizeof output - 1 - output_len) {
        n = sizeof output - 1 - output_len;
    }
    memcpy(output + output_len, data, n);
    output_len += n;
    output[output_len] = '\0';
    return n;
}

void board_wake_from_isr(void)
{
}

void board_wait_rx(uint32_t timeout_ms)
{
    static const char script[] = "ATE0\r\nAT+GMR\r\nAT+CIPMUX?\r\n";
    if (waits++ == 1) {
        for (const char *p = script; *p; p++) {
            board_uart_rx_isr((uint8_t)*p);
        }
    }
    if (strstr(output, "+CIPMUX:0\r\n\r\nOK\r\n") != NULL) {
        fputs(output, stdout);
        printf("firmware loop: %d waits, %zu bytes of output\n", waits, output_len);
        exit(strstr(output, "AT version:3.2.0.0") != NULL ? 0 : 1);
    }
    if (waits > 1000 * 10) {
        fprintf(stderr, "firmware loop: no answer; output so far:\n%s\n", output);
        exit(1);
    }
    struct timespec ts = {0, (long)(timeout_ms > 1 ? 1 : timeout_ms) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(void)
{
    at_task(NULL);
    return 1;
}
