/**
 * The useful part of an ONNX Runtime message: its first line without the C++ source location and
 * failed-check prefix (`/onnxruntime_src/…cc:136 fn(…) cond was false. Reason` → `Reason`).
 */
export function summarizeOrtMessage(text: string): string {
  const line = (text.split('\n').find((l) => l.trim() !== '') ?? text).trim();
  const located = /^\/?\S*onnxruntime\S*:\d+\s+(.*)$/.exec(line);
  if (!located?.[1]) return line;
  const rest = located[1];
  const afterCheck = /was false\.\s*(.+)$/.exec(rest);
  return (afterCheck?.[1] ?? rest).trim();
}
