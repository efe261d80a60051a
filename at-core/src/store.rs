//! Persistent settings: the key/value store behind `AT+SYSSTORE`.
//!
//! The engine keeps its settings in RAM and writes the ones the specification marks
//! "saved in NVS" through [`SettingsStore`] when `AT+SYSSTORE` is 1 (the default). A
//! platform implements the trait over whatever non-volatile memory it has: the W800's
//! NVS, files on a host, or [`MemoryStore`] for tests and for a modem without a state
//! directory. Values are small opaque byte strings that the engine encodes itself.

/// Longest key the engine uses, in bytes. Keys are ASCII, e.g. `"uart.def"`.
pub const MAX_KEY_LEN: usize = 15;
/// Longest value the engine stores under one key, in bytes.
pub const MAX_VALUE_LEN: usize = 128;

/// A non-volatile key/value store.
pub trait SettingsStore {
    /// The platform's error; the engine reports it as `ERROR` and logs it.
    type Error: core::fmt::Debug;

    /// Reads the value stored under `key` into `buf`; `Ok(None)` when there is none.
    /// Returns the value's length; a value longer than `buf` is an error.
    fn read(&mut self, key: &str, buf: &mut [u8]) -> Result<Option<usize>, Self::Error>;

    /// Stores `value` under `key`, replacing what was there.
    fn write(&mut self, key: &str, value: &[u8]) -> Result<(), Self::Error>;

    /// Removes `key`; removing a missing key is not an error.
    fn remove(&mut self, key: &str) -> Result<(), Self::Error>;

    /// Removes every key: the factory state restored by `AT+RESTORE`.
    fn clear(&mut self) -> Result<(), Self::Error>;
}

/// How many keys a [`MemoryStore`] holds.
pub const MEMORY_STORE_KEYS: usize = 32;

/// The store is full, or a key or value is too long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryStoreError {
    /// All [`MEMORY_STORE_KEYS`] slots are used.
    Full,
    /// A key longer than [`MAX_KEY_LEN`] or a value longer than [`MAX_VALUE_LEN`].
    TooLong,
    /// The value does not fit the caller's buffer.
    BufferTooSmall,
}

/// A store in RAM: settings survive `AT+RST` but not a power cycle. For tests, and for a
/// modem that has no non-volatile memory configured.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    entries: heapless::Vec<
        (
            heapless::String<MAX_KEY_LEN>,
            heapless::Vec<u8, MAX_VALUE_LEN>,
        ),
        MEMORY_STORE_KEYS,
    >,
}

impl MemoryStore {
    /// An empty store.
    pub const fn new() -> Self {
        MemoryStore {
            entries: heapless::Vec::new(),
        }
    }

    /// The value under `key`, if any.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| v.as_slice())
    }

    /// How many keys are stored.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl SettingsStore for MemoryStore {
    type Error = MemoryStoreError;

    fn read(&mut self, key: &str, buf: &mut [u8]) -> Result<Option<usize>, Self::Error> {
        match self.get(key) {
            None => Ok(None),
            Some(v) if v.len() > buf.len() => Err(MemoryStoreError::BufferTooSmall),
            Some(v) => {
                buf[..v.len()].copy_from_slice(v);
                Ok(Some(v.len()))
            }
        }
    }

    fn write(&mut self, key: &str, value: &[u8]) -> Result<(), Self::Error> {
        let k = heapless::String::try_from(key).map_err(|_| MemoryStoreError::TooLong)?;
        let v = heapless::Vec::from_slice(value).map_err(|_| MemoryStoreError::TooLong)?;
        if let Some(slot) = self.entries.iter_mut().find(|(sk, _)| sk.as_str() == key) {
            slot.1 = v;
            return Ok(());
        }
        self.entries
            .push((k, v))
            .map_err(|_| MemoryStoreError::Full)
    }

    fn remove(&mut self, key: &str) -> Result<(), Self::Error> {
        self.entries.retain(|(k, _)| k.as_str() != key);
        Ok(())
    }

    fn clear(&mut self) -> Result<(), Self::Error> {
        self.entries.clear();
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn memory_store_round_trip() {
        let mut s = MemoryStore::new();
        let mut buf = [0u8; 8];
        assert_eq!(s.read("a", &mut buf), Ok(None));
        s.write("a", b"xyz").unwrap();
        s.write("a", b"xy").unwrap();
        assert_eq!(s.read("a", &mut buf), Ok(Some(2)));
        assert_eq!(&buf[..2], b"xy");
        assert_eq!(
            s.read("a", &mut [0u8; 1]),
            Err(MemoryStoreError::BufferTooSmall)
        );
        assert_eq!(
            s.write("0123456789abcdef", b""),
            Err(MemoryStoreError::TooLong)
        );
        s.remove("a").unwrap();
        assert!(s.is_empty());
        for i in 0..MEMORY_STORE_KEYS {
            let mut k = heapless::String::<8>::new();
            core::fmt::write(&mut k, format_args!("k{i}")).unwrap();
            s.write(&k, b"1").unwrap();
        }
        assert_eq!(s.write("more", b"1"), Err(MemoryStoreError::Full));
        s.clear().unwrap();
        assert!(s.is_empty());
    }
}
