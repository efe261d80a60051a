//! Logging macros, declared first so every module can use them. With the `log` feature
//! they forward to the `log` crate; without it they compile to nothing (the arguments are
//! still type-checked). Diagnostics such as `link is not valid` go here, never to the AT
//! port: the host only ever sees the result code.

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

#[cfg(feature = "log")]
macro_rules! warn_log {
    ($($arg:tt)*) => { ::log::warn!($($arg)*) };
}

#[cfg(not(feature = "log"))]
macro_rules! warn_log {
    ($($arg:tt)*) => {{
        if false {
            let _ = ::core::format_args!($($arg)*);
        }
    }};
}
