/*
 * firmware_loop.c: the AT engine's task in a W800 firmware, ready to paste.
 *
 * The UART receive interrupt puts bytes in a ring buffer and wakes the task; the task
 * offers them to the engine (at_w800_feed), runs it (at_w800_poll) and sleeps until the
 * next byte arrives or the engine's next deadline passes. Output leaves through the
 * UART write callback, which must not block: what it does not take is offered again.
 *
 * The three board_* functions are the firmware's (SDK calls; examples in comments).
 * The tests compile this file against include/at_w800.h (gcc -std=c99/c11 -Wall
 * -Wextra -Werror -pedantic).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "at_w800.h"

/* ---- Provided by the firmware ---------------------------------------------------- */

/* Milliseconds since boot; may wrap. E.g. xTaskGetTickCount() * portTICK_PERIOD_MS. */
extern uint32_t board_tick_ms(void);

/* Queues bytes for the AT UART without blocking; returns how many it took. E.g. the
 * free room of the UART driver's TX ring, then wm_drv_uart_write(). */
extern size_t board_uart_write(const uint8_t *data, size_t len);

/* Sleeps until board_uart_rx_isr() signals or timeout_ms passes (UINT32_MAX: no
 * timeout). E.g. ulTaskNotifyTake(pdTRUE, pdMS_TO_TICKS(timeout_ms)). */
extern void board_wait_rx(uint32_t timeout_ms);

/* Wakes the task from an interrupt. E.g. vTaskNotifyGiveFromISR(at_task, &woken). */
extern void board_wake_from_isr(void);

/* ---- UART receive: interrupt -> ring buffer -------------------------------------- */

#define RX_SIZE 1024u /* a power of two */

/* A single-producer, single-consumer ring on a single-core MCU: the interrupt writes a
 * byte, then publishes it by moving rx_head; the task reads, then frees by moving
 * rx_tail. (A FreeRTOS stream buffer from the ISR does the same job.) */
static uint8_t rx_ring[RX_SIZE];
static volatile uint32_t rx_head; /* written by the interrupt only */
static volatile uint32_t rx_tail; /* written by the task only */

/* Call from the UART receive interrupt with each byte received. With hardware flow
 * control, deassert RTS when the ring is full instead of dropping the byte. */
void board_uart_rx_isr(uint8_t byte)
{
    uint32_t head = rx_head;
    if (head - rx_tail < RX_SIZE) {
        rx_ring[head % RX_SIZE] = byte;
        rx_head = head + 1;
    }
    board_wake_from_isr();
}

/* ---- The engine ------------------------------------------------------------------ */

/* The engine lives in static memory: no heap. (AT_W800_MEMORY_SIZE fits the W800; a host
 * build of the library needs more, see at_w800_memory_size().) */
#ifndef AT_MEMORY_BYTES
#define AT_MEMORY_BYTES AT_W800_MEMORY_SIZE
#endif
static uint8_t at_memory[AT_MEMORY_BYTES] __attribute__((aligned(AT_W800_MEMORY_ALIGN)));

static size_t uart_write(void *ctx, const uint8_t *data, size_t len)
{
    (void)ctx;
    return board_uart_write(data, len);
}

static void restart(void *ctx)
{
    (void)ctx;
    /* Reset the radio and peripherals here if needed; the engine has reset itself. */
}

static int apply_uart(void *ctx, const AtW800UartConfig *config)
{
    (void)ctx;
    (void)config;
    /* Reconfigure the AT UART (baud, data bits, stop bits, parity, flow control) with the
     * SDK's UART driver; return 0 if done, anything else to answer ERROR. */
    return -1;
}

/* The AT task: never returns. Give it a few KiB of stack: at_w800_init builds the
 * engine in place, the rest runs in small frames. */
void at_task(void *arg)
{
    (void)arg;
    AtW800Hooks hooks = {0};
    hooks.ctx = NULL;
    hooks.apply_uart = apply_uart;
    hooks.restart = restart;
    hooks.memory = NULL; /* AT+SYSRAM? answers 0,0 without it */

    AtW800 *at = at_w800_init(at_memory, sizeof at_memory, &hooks);
    if (at == NULL) {
        return; /* cannot happen on the W800: checked when the library was built */
    }
    at_w800_set_uart_write(at, uart_write, NULL);

    for (;;) {
        uint32_t now = board_tick_ms();

        /* Offer what arrived; the engine takes at most one command line per call, so go
         * round until it takes nothing. */
        for (;;) {
            uint32_t head = rx_head;
            uint32_t tail = rx_tail;
            if (head == tail) {
                break;
            }
            /* The contiguous part of the ring from the tail. */
            uint32_t start = tail % RX_SIZE;
            uint32_t len = head - tail;
            if (len > RX_SIZE - start) {
                len = RX_SIZE - start;
            }
            size_t taken = at_w800_feed(at, now, &rx_ring[start], len);
            rx_tail = tail + (uint32_t)taken;
            at_w800_poll(at, now);
            if (taken == 0) {
                break; /* busy (a command runs, or output waits for the UART): later */
            }
        }
        at_w800_poll(at, now);

        /* At most AT_W800_NETWORK_POLL_MS while links are open: lwIP does not wake this
         * task when data arrives. */
        uint32_t wait = at_w800_next_deadline(at, now);
        if (wait > 0) {
            board_wait_rx(wait);
        }
    }
}
