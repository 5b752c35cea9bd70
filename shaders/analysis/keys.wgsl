// Order-preserving u32 keys of f32 scores, read as raw bits (no float operation, so flush-to-zero and
// NaN-assuming optimisations cannot change a key): unsigned key order equals the numeric order of the
// ranking key of src/analysis/rankings.ts (the value, or |value| with ABSOLUTE; -0 read as +0).
// Positive floats get the sign bit set, negative floats every bit flipped. A NaN maps to 0xffffffff
// (above +inf); the selection counts NaNs so that the host can refuse them, as rankKeys does.
override ABSOLUTE: bool = false;

fn is_nan_bits(b: u32) -> bool { return (b & 0x7fffffffu) > 0x7f800000u; }

fn rank_key(raw: u32) -> u32 {
  if (is_nan_bits(raw)) { return 0xffffffffu; }
  var b = raw;
  if (ABSOLUTE) { b = b & 0x7fffffffu; }
  if (b == 0x80000000u) { b = 0u; }              // -0 → +0
  if ((b & 0x80000000u) != 0u) { return ~b; }
  return b | 0x80000000u;
}
