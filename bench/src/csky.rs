//! What LLVM's C-SKY back end spends on branches and calls, read off a CK804
//! disassembly (`llvm-objdump -d --mcpu=ck804ef`, from the nightly `llvm-tools`
//! component; the system's objdump has no C-SKY).
//!
//! LLVM selects only the 32-bit branch forms (`br32`, `bt32`, `bf32`) and never shrinks
//! them, and it calls through a constant-pool slot (`jsri`) where GCC's assembler would
//! relax `jbr`/`jbt`/`jbf` to the 16-bit forms when the target is within reach and emit
//! `bsr32` calls without a slot. [`BranchCensus`] counts both, so the README can say how
//! much of the CK804 object's excess over thumbv7em is the code generator's.

use std::collections::HashSet;

/// Branches and calls of one C-SKY object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BranchCensus {
    /// 32-bit branches with a 16-bit form (`br32`, `bt32`, `bf32`).
    pub branches_32: u32,
    /// Of those, the ones whose target is within the 16-bit forms' reach
    /// (-1024..=1022 bytes): two bytes each with a relaxing assembler.
    pub within_16bit_reach: u32,
    /// Calls through a constant-pool slot (`jsri`).
    pub pool_calls: u32,
    /// Distinct pool slots those calls load (four bytes each; `bsr32` needs none).
    pub pool_slots: u32,
}

impl BranchCensus {
    /// Bytes a relaxing assembler and slot-free calls would save: an estimate (it
    /// ignores that shorter code brings more branches within reach, and pool padding).
    pub fn savable_bytes(&self) -> u32 {
        2 * self.within_16bit_reach + 4 * self.pool_slots
    }

    /// Counts over `llvm-objdump -d` output (sections headed `Disassembly of section`,
    /// instructions as `addr: bytes \t mnemonic \t operands`).
    pub fn of_disassembly(text: &str) -> BranchCensus {
        let mut census = BranchCensus::default();
        let mut section = "";
        let mut slots: HashSet<(&str, u64)> = HashSet::new();
        for line in text.lines() {
            if let Some(name) = line.strip_prefix("Disassembly of section ") {
                section = name;
                continue;
            }
            let mut fields = line.split('\t');
            let (Some(head), Some(mnemonic), Some(operands)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let Some(pc) = head
                .split(':')
                .next()
                .and_then(|a| u64::from_str_radix(a.trim(), 16).ok())
            else {
                continue;
            };
            let Some(target) = operands
                .split_whitespace()
                .find_map(|w| w.trim_end_matches(',').strip_prefix("0x"))
                .and_then(|h| u64::from_str_radix(h, 16).ok())
            else {
                continue;
            };
            match mnemonic.trim() {
                "br32" | "bt32" | "bf32" => {
                    census.branches_32 += 1;
                    let displacement = target as i64 - pc as i64;
                    if (-1024..=1022).contains(&displacement) {
                        census.within_16bit_reach += 1;
                    }
                }
                "jsri" | "jsri32" => {
                    census.pool_calls += 1;
                    slots.insert((section, target));
                }
                _ => {}
            }
        }
        census.pool_slots = slots.len() as u32;
        census
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const SAMPLE: &str = "\
Disassembly of section .text.a:

00000000 <a>:
       0: 22 14        \tsubi16\tr14, r14, 8
       4: e0 ea 37 09  \tjsri\t0x250 <a+0x250>
       8: e0 ea 33 09  \tjsri\t0x250 <a+0x250>
      86: 00 e8 14 00  \tbr32\t0xae <a+0xae>
      90: 40 e8 24 00  \tbt32\t0x900 <a+0x900>
Disassembly of section .text.b:

00000000 <b>:
       4: e0 ea 37 09  \tjsri\t0x250 <b+0x250>
     500: 60 e8 d7 ff  \tbf32\t0x100 <b+0x100>
     600: 60 e8 d7 ff  \tbez32\tr3, 0x610 <b+0x610>
";

    #[test]
    fn counts_branches_in_reach_and_pool_slots_per_section() {
        let c = BranchCensus::of_disassembly(SAMPLE);
        assert_eq!(
            c,
            BranchCensus {
                branches_32: 3,
                // 0x86 -> 0xae (+40) and 0x500 -> 0x100 (-1024) are in reach;
                // 0x90 -> 0x900 (+2160) is not; bez32 has no 16-bit form.
                within_16bit_reach: 2,
                pool_calls: 3,
                // The same slot twice in .text.a, and .text.b's own.
                pool_slots: 2,
            }
        );
        assert_eq!(c.savable_bytes(), 2 * 2 + 4 * 2);
    }
}
