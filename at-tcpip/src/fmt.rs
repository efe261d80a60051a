//! Logging macros: `log` with the `log` feature, nothing without it. Diagnostics never go
//! to the AT port.

#[cfg(feature = "log")]
macro_rules! diag {
    ($($arg:tt)*) => { ::log::debug!($($arg)*) };
}

#[cfg(not(feature = "log"))]
macro_rules! diag {
    ($($arg:tt)*) => {{
        if false {
            let _ = ::core::format_args!($($arg)*);
        }
    }};
}
