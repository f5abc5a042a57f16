// A zstd frame holding `bytes` (256 to 65 791 of them) in one raw block, content size
// declared, as the server's encoder could produce: enough to test the decoder side.
export function zstdRawFrame(bytes) {
  if (bytes.length < 256 || bytes.length >= 65536 + 256) throw new Error(`zstdRawFrame: ${bytes.length} bytes`);
  const fcs = bytes.length - 256;  // 2-byte Frame_Content_Size field, offset 256
  const block = 1 | (bytes.length << 3);  // last block, raw
  return Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0x60, fcs & 0xff, fcs >> 8,
    block & 0xff, (block >> 8) & 0xff, block >> 16, ...bytes]);
}
