/** Number formats shared by the lab reports. */

/** A number with thousands separators, as written in the reports (1,000). */
export function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

/** A number rounded to an integer, with thousands separators. */
export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** `v` rounded to `digits` decimals (non-finite values pass through). */
export const round = (v: number, digits = 1) => (Number.isFinite(v) ? Number(v.toFixed(digits)) : v);
