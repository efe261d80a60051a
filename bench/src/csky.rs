//! What LLVM's C-SKY back end spends on branches and calls, read off a CK804
//! disassembly (`llvm-objdump -d --mcpu=ck804ef`, from the nightly `llvm-tools`
//! component; the system's objdump has no C-SKY).
//!
//! LLVM selects only the 32-bit branch forms (`br32`, `bt32`, `bf32`) and never shrinks
//! them, and it calls through a constant-pool slot (`jsri`) where GCC's assembler would
//! relax `jbr`/`jbt`/`jbf` to the 16-bit forms when the target is within reach and emit
//! `bsr32` calls without a slot. Its frame lowering also saves and restores each
//! callee-saved register with a load or store of its own, where the instruction set has
//! register-list `push`/`pop` (one instruction each way). [`BranchCensus`] counts all
//! three, so the README can say how much of the CK804 object's excess over thumbv7em is
//! the code generator's.

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
    /// Prologues and epilogues that save or restore callee-saved registers.
    pub frame_sequences: u32,
    /// Bytes of the stores and loads of callee-saved registers (r4-r11, r15, r16-r17)
    /// in them: each sequence would be one `push` or `pop`.
    pub register_save_bytes: u32,
}

/// Is `operands` a word store or load of a callee-saved register at the stack pointer
/// (`r4, (r14, 0x8)`)?
fn saves_callee_register(mnemonic: &str, operands: &str) -> bool {
    if !matches!(mnemonic, "st16.w" | "st32.w" | "ld16.w" | "ld32.w") {
        return false;
    }
    let Some((reg, base)) = operands.split_once(", ") else {
        return false;
    };
    base.starts_with("(r14,")
        && matches!(
            reg.trim()
                .strip_prefix('r')
                .and_then(|n| n.parse::<u8>().ok()),
            Some(4..=11 | 15 | 16 | 17)
        )
}

impl BranchCensus {
    /// Bytes a relaxing assembler and slot-free calls would save: an estimate (it
    /// ignores that shorter code brings more branches within reach, and pool padding).
    pub fn savable_bytes(&self) -> u32 {
        2 * self.within_16bit_reach + 4 * self.pool_slots + self.push_pop_savable_bytes()
    }

    /// What `push`/`pop` would save over the separate stores and loads: those bytes less
    /// one four-byte instruction per prologue or epilogue.
    pub fn push_pop_savable_bytes(&self) -> u32 {
        self.register_save_bytes
            .saturating_sub(4 * self.frame_sequences)
    }

    /// Counts over `llvm-objdump -d` output (sections headed `Disassembly of section`,
    /// instructions as `addr: bytes \t mnemonic \t operands`).
    pub fn of_disassembly(text: &str) -> BranchCensus {
        let mut census = BranchCensus::default();
        let mut section = "";
        let mut slots: HashSet<(&str, u64)> = HashSet::new();
        // The function's prologue is still running (only stack adjustments and saves so
        // far), and the saves seen since the last other instruction (an epilogue, when a
        // return follows).
        let mut in_prologue = false;
        let mut prologue_saved = false;
        let mut restores = 0u32;
        for line in text.lines() {
            if let Some(name) = line.strip_prefix("Disassembly of section ") {
                section = name;
                continue;
            }
            if line.ends_with(">:") {
                in_prologue = true;
                prologue_saved = false;
                restores = 0;
                continue;
            }
            let mut fields = line.split('\t');
            let (Some(head), Some(mnemonic), Some(operands)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let mut head = head.split(':');
            let Some(pc) = head
                .next()
                .and_then(|a| u64::from_str_radix(a.trim(), 16).ok())
            else {
                continue;
            };
            let mnemonic = mnemonic.trim();
            let bytes = head.next().map_or(0, |b| b.split_whitespace().count()) as u32;
            let adjusts_stack = matches!(mnemonic, "subi16" | "subi32" | "addi16" | "addi32")
                && operands.starts_with("r14, r14");
            if saves_callee_register(mnemonic, operands) {
                if in_prologue && mnemonic.starts_with("st") {
                    census.register_save_bytes += bytes;
                    if !prologue_saved {
                        prologue_saved = true;
                        census.frame_sequences += 1;
                    }
                } else if mnemonic.starts_with("ld") {
                    restores += bytes;
                }
                continue;
            }
            if adjusts_stack {
                continue;
            }
            in_prologue = false;
            if matches!(mnemonic, "jmp16" | "jmp32") && operands.trim() == "r15" && restores > 0 {
                census.register_save_bytes += restores;
                census.frame_sequences += 1;
            }
            restores = 0;
            let Some(target) = operands
                .split_whitespace()
                .find_map(|w| w.trim_end_matches(',').strip_prefix("0x"))
                .and_then(|h| u64::from_str_radix(h, 16).ok())
            else {
                continue;
            };
            match mnemonic {
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

    const FRAMES: &str = "\
Disassembly of section .text.f:

00000000 <f>:
       0: 2b 14        \tsubi16\tr14, r14, 12
       2: 2e de 02 20  \tst32.w\tr17, (r14, 0x8)
       6: e5 b8        \tst16.w\tr7, (r14, 0x4)
       8: 00 b8        \tst16.w\tr0, (r14, 0x0)
       a: 82 b8        \tst16.w\tr4, (r14, 0x0)
       c: 4f 6d        \tmov16\tr5, r3
       e: e5 b8        \tst16.w\tr7, (r14, 0x4)
      10: 00 98        \tld16.w\tr0, (r14, 0x0)
      12: 3c 78        \tjmp16\tr15
      14: e5 98        \tld16.w\tr7, (r14, 0x4)
      16: 2e da 02 20  \tld32.w\tr17, (r14, 0x8)
      1a: 0b 14        \taddi16\tr14, r14, 12
      1c: 3c 78        \tjmp16\tr15
";

    #[test]
    fn counts_register_saves_in_prologues_and_restores_before_returns() {
        let c = BranchCensus::of_disassembly(FRAMES);
        // The prologue saves r17 and r7 (6 bytes). The store of r0 (an argument, not
        // callee-saved) ends it, so the store of r4 after it and the body's store of r7
        // are no saves. The first return restores nothing callee-saved (r0 is the
        // result); the second restores r7 and r17 (6 bytes).
        assert_eq!(c.frame_sequences, 2);
        assert_eq!(c.register_save_bytes, 6 + 6);
        assert_eq!(c.push_pop_savable_bytes(), 12 - 8);
        assert_eq!(c.savable_bytes(), 4);
    }

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
                // No saves: `subi16` alone is a stack adjustment.
                frame_sequences: 0,
                register_save_bytes: 0,
            }
        );
        assert_eq!(c.savable_bytes(), 2 * 2 + 4 * 2);
    }
}
