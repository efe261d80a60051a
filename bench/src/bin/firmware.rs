//! The firmware image used for code size: the engine with the W800 profile and the full
//! command set (`at-tcpip`, `at-ssl`) on a platform whose every SDK call is opaque, so
//! all generic code is monomorphised and kept. Build (see README, Performance):
//!
//! ```sh
//! cargo build -p at-bench --bin firmware --release --no-default-features \
//!     --features firmware --target thumbv7em-none-eabihf
//! ```
#![no_std]
#![no_main]

use at_bench::firmware::{firmware_engine, firmware_step, FwPlatform};

/// The reset entry point.
#[no_mangle]
pub extern "C" fn _start() -> ! {
    let mut engine = firmware_engine();
    let mut platform = FwPlatform::default();
    let mut now = 0u64;
    loop {
        firmware_step(&mut engine, &mut platform, now);
        now = now.wrapping_add(1);
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
