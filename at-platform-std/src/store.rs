//! Settings persisted on the host: owns the `at-modem` state directory.
//!
//! [`FileStore`] implements the engine's [`SettingsStore`] with one file per key
//! in a directory. The value of key `k` lives in the file `k.val`; writes go to
//! `k.tmp` first, which is fsynced and then renamed over `k.val` (and the
//! directory is fsynced), so a crash leaves either the old or the new value,
//! never a torn one. [`FileStore::clear`] removes only those files: anything
//! else in the directory is left alone.
//!
//! Keys are 1 to [`MAX_KEY_LEN`] bytes of ASCII `[a-z0-9._-]`; any other key is
//! rejected with [`io::ErrorKind::InvalidInput`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use at_core::store::SettingsStore;

/// Longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 15;

/// File name suffix of a stored value.
const VALUE_SUFFIX: &str = ".val";
/// File name suffix of a value being written.
const TEMP_SUFFIX: &str = ".tmp";

/// A [`SettingsStore`] keeping one file per key in a directory.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    /// Opens the store in `dir`, creating the directory (and its parents) if needed.
    pub fn open(dir: &Path) -> io::Result<FileStore> {
        fs::create_dir_all(dir)?;
        if !fs::metadata(dir)?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} is not a directory", dir.display()),
            ));
        }
        Ok(FileStore {
            dir: dir.to_path_buf(),
        })
    }

    /// The directory holding the store's files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn value_path(&self, key: &str) -> io::Result<PathBuf> {
        check_key(key)?;
        Ok(self.dir.join(format!("{key}{VALUE_SUFFIX}")))
    }

    fn temp_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}{TEMP_SUFFIX}"))
    }

    /// Makes renames and removals in the directory durable.
    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }
}

/// Whether `key` is a valid store key: 1..=15 bytes of `[a-z0-9._-]`.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
}

fn check_key(key: &str) -> io::Result<()> {
    if is_valid_key(key) {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "invalid settings key {key:?}: expected 1 to {MAX_KEY_LEN} bytes of [a-z0-9._-]"
            ),
        ))
    }
}

impl SettingsStore for FileStore {
    type Error = io::Error;

    /// Reads the value of `key` into `buf`; `Ok(None)` when the key is not stored.
    /// A value longer than `buf` is an [`io::ErrorKind::InvalidData`] error.
    fn read(&mut self, key: &str, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let path = self.value_path(key)?;
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        // Values are replaced by rename, never rewritten in place, so the length
        // of the open file cannot change under us.
        let len = file.metadata()?.len();
        if len > buf.len() as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "settings value {key:?} is {len} bytes, longer than the {}-byte buffer",
                    buf.len()
                ),
            ));
        }
        // `len <= buf.len()`, so this cannot truncate.
        let len = len as usize;
        file.read_exact(&mut buf[..len])?;
        Ok(Some(len))
    }

    /// Stores `value` under `key` atomically (temporary file, fsync, rename).
    fn write(&mut self, key: &str, value: &[u8]) -> io::Result<()> {
        let path = self.value_path(key)?;
        let temp = self.temp_path(key);
        let result = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&temp)?;
            file.write_all(value)?;
            file.sync_all()?;
            drop(file);
            fs::rename(&temp, &path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result?;
        self.sync_dir()
    }

    /// Removes `key`; a missing key is not an error.
    fn remove(&mut self, key: &str) -> io::Result<()> {
        let path = self.value_path(key)?;
        match fs::remove_file(&path) {
            Ok(()) => self.sync_dir(),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Removes every stored value (and any left-over temporary file), nothing else.
    fn clear(&mut self) -> io::Result<()> {
        let mut removed = false;
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let key = name
                .strip_suffix(VALUE_SUFFIX)
                .or_else(|| name.strip_suffix(TEMP_SUFFIX));
            if !key.is_some_and(is_valid_key) || !entry.file_type()?.is_file() {
                continue;
            }
            match fs::remove_file(entry.path()) {
                Ok(()) => removed = true,
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(err),
            }
        }
        if removed {
            self.sync_dir()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, FileStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(&dir.path().join("state/nested")).unwrap();
        (dir, store)
    }

    #[test]
    fn round_trip_and_overwrite() {
        let (_dir, mut store) = store();
        let mut buf = [0u8; 128];
        store.write("uart.def", b"115200,8,1,0,0").unwrap();
        assert_eq!(store.read("uart.def", &mut buf).unwrap(), Some(14));
        assert_eq!(&buf[..14], b"115200,8,1,0,0");
        store.write("uart.def", b"9600").unwrap();
        assert_eq!(store.read("uart.def", &mut buf).unwrap(), Some(4));
        assert_eq!(&buf[..4], b"9600");
        // Binary and empty values.
        let all: Vec<u8> = (0..=127u8).collect();
        store.write("bin_0-9.x", &all).unwrap();
        assert_eq!(store.read("bin_0-9.x", &mut buf).unwrap(), Some(128));
        assert_eq!(&buf[..], &all[..]);
        store.write("empty", b"").unwrap();
        assert_eq!(store.read("empty", &mut buf).unwrap(), Some(0));
        // One file per key, no temporary file left behind.
        let mut names: Vec<String> = fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["bin_0-9.x.val", "empty.val", "uart.def.val"]);
    }

    #[test]
    fn values_persist_across_reopen() {
        let (dir, mut store) = store();
        store.write("cwmode", b"\x01").unwrap();
        drop(store);
        let mut store = FileStore::open(&dir.path().join("state/nested")).unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(store.read("cwmode", &mut buf).unwrap(), Some(1));
        assert_eq!(buf[0], 1);
    }

    #[test]
    fn missing_key_and_remove() {
        let (_dir, mut store) = store();
        let mut buf = [0u8; 16];
        assert_eq!(store.read("nothing", &mut buf).unwrap(), None);
        store.remove("nothing").unwrap();
        store.write("k", b"v").unwrap();
        store.remove("k").unwrap();
        assert_eq!(store.read("k", &mut buf).unwrap(), None);
    }

    #[test]
    fn value_longer_than_buffer_is_invalid_data() {
        let (_dir, mut store) = store();
        store.write("long", b"0123456789").unwrap();
        let mut buf = [0u8; 9];
        let err = store.read("long", &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let mut buf = [0u8; 10];
        assert_eq!(store.read("long", &mut buf).unwrap(), Some(10));
    }

    #[test]
    fn clear_removes_only_store_files() {
        let (_dir, mut store) = store();
        store.write("a", b"1").unwrap();
        store.write("b.c", b"2").unwrap();
        fs::write(store.dir().join("stale.tmp"), b"x").unwrap();
        fs::write(store.dir().join("notes.txt"), b"keep").unwrap();
        fs::write(store.dir().join("UPPER.val"), b"keep").unwrap();
        fs::create_dir(store.dir().join("sub.val")).unwrap();
        store.clear().unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(store.read("a", &mut buf).unwrap(), None);
        assert_eq!(store.read("b.c", &mut buf).unwrap(), None);
        let mut names: Vec<String> = fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["UPPER.val", "notes.txt", "sub.val"]);
        // Clearing an empty store is fine, and the store still works afterwards.
        store.clear().unwrap();
        store.write("a", b"3").unwrap();
        assert_eq!(store.read("a", &mut buf).unwrap(), Some(1));
    }

    #[test]
    fn bad_keys_are_rejected() {
        let (_dir, mut store) = store();
        let mut buf = [0u8; 8];
        for key in [
            "",
            "Upper",
            "a/b",
            "../x",
            "sixteen-bytes-xx",
            "sp ace",
            "é",
            "a\0",
        ] {
            assert_eq!(
                store.write(key, b"v").unwrap_err().kind(),
                io::ErrorKind::InvalidInput,
                "{key:?}"
            );
            assert_eq!(
                store.read(key, &mut buf).unwrap_err().kind(),
                io::ErrorKind::InvalidInput
            );
            assert_eq!(
                store.remove(key).unwrap_err().kind(),
                io::ErrorKind::InvalidInput
            );
        }
        store.write("fifteen-bytes-x", b"ok").unwrap();
        assert!(fs::read_dir(store.dir()).unwrap().count() == 1);
    }

    #[test]
    fn open_on_a_file_fails() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, b"").unwrap();
        assert!(FileStore::open(&file).is_err());
    }
}
