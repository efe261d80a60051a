//! Build script of at-platform-w800.
//!
//! Without the `host-lwip` feature it does nothing (the crate must build on machines
//! without lwIP's headers, and for the W800 target, where the firmware links lwIP).
//!
//! With `host-lwip` it checks the FFI declarations against the real lwIP headers of
//! Debian's `liblwip-dev` and builds the C parts the host tests run:
//! 1. reads the `extern "C"` blocks of `src/ffi/{lwip,port,host,tls}.rs`, translates each
//!    declaration to a C function-pointer type and writes `_Static_assert`s comparing it
//!    with the header's prototype (`__builtin_types_compatible_p`);
//! 2. compiles those assertions against Debian's configuration and against lwIP's own
//!    `lwip/sockets.h` in the W800-like configuration of `c/native/lwipopts.h`: a wrong
//!    declaration fails the build here;
//! 3. compiles `c/check_values.c` in both configurations (constants, sizes, offsets,
//!    compared with the Rust values by the crate's tests), the port shim
//!    `c/at_w800_port.c` and the bring-up glue `c/host_lwip.c`, and links `-llwip`;
//! 4. compiles the TLS shim `c/at_w800_tls.c` against Debian's mbedTLS 2.28
//!    (`libmbedtls-dev`; the shim calls mbedTLS itself, so the C compiler checks every
//!    mbedTLS call) and links `-lmbedtls -lmbedx509 -lmbedcrypto`.

#![cfg_attr(not(feature = "host-lwip"), allow(dead_code, unused_imports))]

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    build_info();
    if env::var_os("CARGO_FEATURE_HOST_LWIP").is_some() {
        #[cfg(feature = "host-lwip")]
        host_lwip::build();
        #[cfg(not(feature = "host-lwip"))]
        panic!("host-lwip needs the build dependency `cc`");
    }
}

/// `AT_W800_BUILD_DATE`, `AT_W800_BUILD_TIME` (UTC, `SOURCE_DATE_EPOCH` or now) and
/// `AT_W800_SOURCE_HASH` (git) for `AT+GMR`.
fn build_info() {
    at_build_info::emit("AT_W800");
}

/// Rust type (as written in the declarations) -> C type.
fn c_type(rust: &str) -> Option<&'static str> {
    Some(match rust.trim() {
        "c_int" => "int",
        "c_long" => "long",
        "c_uint" => "unsigned int",
        "u32" => "uint32_t",
        "u64" => "uint64_t",
        "size_t" => "size_t",
        "ssize_t" => "ssize_t",
        "socklen_t" => "socklen_t",
        "sys::nfds_t" => "nfds_t",
        "*const c_void" => "const void *",
        "*mut c_void" => "void *",
        "*const sockaddr" => "const struct sockaddr *",
        "*mut sockaddr" => "struct sockaddr *",
        "*mut socklen_t" => "socklen_t *",
        "*mut pollfd" => "struct pollfd *",
        "*mut u32" => "uint32_t *",
        "*mut u8" => "uint8_t *",
        "*const c_char" => "const char *",
        "*const u8" => "const uint8_t *",
        "*mut PortAp" => "at_w800_port_ap_t *",
        "wm_nvs_handle_t" => "wm_nvs_handle_t",
        "*mut wm_nvs_handle_t" => "wm_nvs_handle_t *",
        "*mut size_t" => "size_t *",
        _ => return None,
    })
}

/// One `fn` of an `extern "C"` block.
#[derive(Debug)]
struct Decl {
    name: String,
    args: Vec<String>,
    ret: String,
}

/// The declarations of every `extern "C"` block in `source`.
fn parse_decls(source: &str, file: &Path) -> Vec<Decl> {
    let mut decls = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find("extern \"C\" {") {
        let body_start = start + "extern \"C\" {".len();
        let end = rest[body_start..]
            .find("\n}")
            .map(|e| body_start + e)
            .unwrap_or_else(|| panic!("{}: unterminated extern block", file.display()));
        let body: String = rest[body_start..end]
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join(" ");
        for item in body.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let item = item
                .strip_prefix("pub fn ")
                .unwrap_or_else(|| panic!("{}: unexpected item `{item}`", file.display()));
            let open = item.find('(').expect("(");
            let close = item.rfind(')').expect(")");
            let name = item[..open].trim().to_owned();
            let args = item[open + 1..close]
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(|a| {
                    let ty = a.split_once(':').expect("name: type").1.trim();
                    c_type(ty)
                        .unwrap_or_else(|| panic!("{name}: build.rs knows no C type for `{ty}`"))
                        .to_owned()
                })
                .collect();
            let ret = match item[close + 1..].trim().strip_prefix("->") {
                Some(r) => c_type(r)
                    .unwrap_or_else(|| panic!("{name}: build.rs knows no C type for `{r}`"))
                    .to_owned(),
                None => "void".to_owned(),
            };
            decls.push(Decl { name, args, ret });
        }
        rest = &rest[end..];
    }
    decls
}

/// `_Static_assert`s comparing each declaration with the prototype in scope.
fn assertions(decls: &[Decl]) -> String {
    let mut out = String::new();
    for d in decls {
        let args = if d.args.is_empty() {
            "void".to_owned()
        } else {
            d.args.join(", ")
        };
        writeln!(
            out,
            "_Static_assert(__builtin_types_compatible_p(__typeof__(&{name}), {ret} (*)({args})), \
             \"the Rust declaration of {name}, {ret} {name}({args}), differs from the header's\");",
            name = d.name,
            ret = d.ret,
        )
        .unwrap();
    }
    out
}

fn generate(manifest: &Path, out: &Path, rs: &str, header: &str) -> PathBuf {
    let path = manifest.join("src/ffi").join(rs);
    println!("cargo:rerun-if-changed={}", path.display());
    let source = fs::read_to_string(&path).unwrap();
    let decls = parse_decls(&source, &path);
    assert!(
        !decls.is_empty(),
        "{}: no declarations found",
        path.display()
    );
    let file = out.join(header);
    fs::write(&file, assertions(&decls)).unwrap();
    file
}

#[cfg(feature = "host-lwip")]
mod host_lwip {
    use super::*;

    pub fn build() {
        let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
        let out = PathBuf::from(env::var("OUT_DIR").unwrap());
        for f in [
            "c/check_protos.c",
            "c/check_values.c",
            "c/at_w800_port.c",
            "c/host_lwip.c",
            "c/host_lwip.h",
            "c/at_w800_tls.c",
            "include/at_w800_tls.h",
            "c/native/lwipopts.h",
            "include/at_w800_port.h",
        ] {
            println!("cargo:rerun-if-changed={}", manifest.join(f).display());
        }
        let lwip_inc = PathBuf::from(
            env::var("AT_W800_LWIP_INCLUDE").unwrap_or_else(|_| "/usr/include/lwip".into()),
        );
        println!("cargo:rerun-if-env-changed=AT_W800_LWIP_INCLUDE");
        assert!(
            lwip_inc.join("lwip/sockets.h").exists(),
            "host-lwip: no lwIP headers in {} (install liblwip-dev, or run scripts/w800.sh)",
            lwip_inc.display()
        );

        generate(&manifest, &out, "lwip.rs", "protos_lwip.h");
        generate(&manifest, &out, "port.rs", "protos_port.h");
        generate(&manifest, &out, "host.rs", "protos_host.h");
        generate(&manifest, &out, "tls.rs", "protos_tls.h");
        // The SDK's NVS: no header here, so only generated, for checking against the
        // SDK's wm_nvs.h where it exists (the README's porting section says how).
        generate(&manifest, &out, "sdk.rs", "protos_sdk.h");

        let base = |native: bool| {
            let mut b = cc::Build::new();
            b.warnings(true)
                .extra_warnings(true)
                .warnings_into_errors(true);
            b.flag("-Wno-unused-parameter");
            if native {
                b.include(manifest.join("c/native"))
                    .define("AT_W800_NATIVE", None);
            }
            b.include(&lwip_inc)
                .include(manifest.join("include"))
                .include(manifest.join("c"))
                .include(&out);
            b
        };

        // Debian's configuration: what runs in the tests.
        base(false)
            .file(manifest.join("c/check_protos.c"))
            .file(manifest.join("c/at_w800_port.c"))
            .file(manifest.join("c/host_lwip.c"))
            .define("AT_W800_CHECK_PREFIX", "posix")
            .file(manifest.join("c/check_values.c"))
            .compile("at_w800_host");
        // The TLS shim against Debian's mbedTLS (libmbedtls-dev, 2.28), with a pool big
        // enough for the tests running in parallel, its mutex, and -Wextra -Werror.
        let mbedtls_inc =
            env::var("AT_W800_MBEDTLS_INCLUDE").unwrap_or_else(|_| "/usr/include".into());
        println!("cargo:rerun-if-env-changed=AT_W800_MBEDTLS_INCLUDE");
        assert!(
            Path::new(&mbedtls_inc).join("mbedtls/ssl.h").exists(),
            "host-lwip: no mbedTLS headers in {mbedtls_inc} (install libmbedtls-dev, or run scripts/w800.sh)"
        );
        base(false)
            .include(&mbedtls_inc)
            .define("AT_W800_TLS_HOST", None)
            .define("AT_W800_TLS_SESSIONS", "16")
            .file(manifest.join("c/at_w800_tls.c"))
            .compile("at_w800_tls");
        // lwIP's own headers (the W800's configuration): checked, and the values
        // exported for the tests; nothing here calls lwIP.
        base(true)
            .file(manifest.join("c/check_protos.c"))
            .define("AT_W800_CHECK_PREFIX", "native")
            .file(manifest.join("c/check_values.c"))
            .compile("at_w800_native_checks");
        println!("cargo:rustc-link-lib=dylib=lwip");
        for lib in ["mbedtls", "mbedx509", "mbedcrypto"] {
            println!("cargo:rustc-link-lib=dylib={lib}");
        }
    }
}
