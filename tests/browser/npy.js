// A little-endian float32 .npy reader shared by the page (harness.js) and Node (run.mjs).

/** Parses a little-endian float32 .npy file (versions 1-3, C order). */
export function parseNpy(buffer) {
  const bytes = new Uint8Array(buffer);
  const magic = String.fromCharCode(...bytes.subarray(1, 6));
  if (bytes[0] !== 0x93 || magic !== 'NUMPY') throw new Error('not an .npy file');
  const view = new DataView(buffer);
  const major = bytes[6];
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLen));
  if (!/'descr':\s*'<f4'/.test(header)) throw new Error(`.npy is not little-endian f32: ${header}`);
  if (/'fortran_order':\s*True/.test(header)) throw new Error('.npy in Fortran order');
  const shapeText = header.match(/'shape':\s*\(([^)]*)\)/)[1];
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLen;
  if (buffer.byteLength < offset + 4 * count) throw new Error('.npy data is truncated');
  // slice() copies, so the data need not be 4-byte aligned in the file.
  return { shape, data: new Float32Array(buffer.slice(offset, offset + 4 * count)) };
}
