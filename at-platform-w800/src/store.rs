//! The settings store behind `AT+SYSSTORE` ([`at_core::store::SettingsStore`]).
//!
//! On the W800 (`NvsStore`, target only) settings live in the SDK's NVS, group `"at"`
//! of the default partition, one binary item per key (`wm_nvs_set_binary`; keys are at
//! most 15 bytes, which is also NVS's limit). On the host the platform uses
//! [`at_core::store::MemoryStore`].

#[cfg(target_os = "none")]
pub use nvs::{NvsError, NvsStore};

#[cfg(target_os = "none")]
mod nvs {
    use at_core::store::SettingsStore;

    use crate::ffi::sdk::{Nvs, NvsCode};

    /// An NVS failure: the SDK's `WM_NVS_ERR_*` code (-1: a key NVS cannot hold).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct NvsError(pub NvsCode);

    /// Settings in the W800's NVS, opened at the first use.
    #[derive(Debug, Default)]
    pub struct NvsStore {
        nvs: Option<Nvs>,
    }

    impl NvsStore {
        /// A store; NVS is opened at the first access (the SDK must have run
        /// `wm_nvs_init` by then, which its startup does).
        pub const fn new() -> Self {
            NvsStore { nvs: None }
        }

        fn nvs(&mut self) -> Result<&mut Nvs, NvsError> {
            if self.nvs.is_none() {
                self.nvs = Some(Nvs::open(c"at").map_err(NvsError)?);
            }
            self.nvs.as_mut().ok_or(NvsError(-1))
        }
    }

    impl SettingsStore for NvsStore {
        type Error = NvsError;

        fn read(&mut self, key: &str, buf: &mut [u8]) -> Result<Option<usize>, NvsError> {
            self.nvs()?.get(key, buf).map_err(NvsError)
        }

        fn write(&mut self, key: &str, value: &[u8]) -> Result<(), NvsError> {
            self.nvs()?.set(key, value).map_err(NvsError)
        }

        fn remove(&mut self, key: &str) -> Result<(), NvsError> {
            self.nvs()?.remove(key).map_err(NvsError)
        }

        fn clear(&mut self) -> Result<(), NvsError> {
            self.nvs()?.clear().map_err(NvsError)
        }
    }
}
