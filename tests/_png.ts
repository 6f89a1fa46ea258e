/**
 * A small PNG decoder for tests: 8-bit greyscale, grey+alpha, RGB and RGBA, not interlaced
 * (what headless Chromium's screenshots are), inflated with `node:zlib`.
 *
 * @module
 */

import { inflateSync } from "node:zlib";

/** A decoded image: `width * height * 4` bytes of RGBA, rows top to bottom. */
export interface Image {
  width: number;
  height: number;
  rgba: Uint8Array;
}

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };

/**
 * Decodes a PNG.
 *
 * @param bytes The file.
 * @returns The pixels as RGBA.
 * @throws Error for what is not a PNG, or a kind of PNG this decoder does not read.
 */
export function decodePng(bytes: Uint8Array): Image {
  if (!SIGNATURE.every((b, i) => bytes[i] === b)) throw new Error("Not a PNG file");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let width = 0, height = 0, depth = 0, colour = 0, interlace = 0;
  const data: Uint8Array[] = [];
  for (let at = 8; at + 8 <= bytes.length;) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const body = bytes.subarray(at + 8, at + 8 + length);
    if (type === "IHDR") {
      width = view.getUint32(at + 8);
      height = view.getUint32(at + 12);
      [depth, colour, interlace] = [body[8]!, body[9]!, body[12]!];
    } else if (type === "IDAT") {
      data.push(body);
    } else if (type === "IEND") {
      break;
    }
    at += 12 + length;
  }
  const channels = CHANNELS[colour];
  if (depth !== 8 || channels === undefined || interlace !== 0) {
    throw new Error(
      `Unsupported PNG: bit depth ${depth}, colour type ${colour}, interlace ${interlace}`,
    );
  }
  const joined = new Uint8Array(data.reduce((n, d) => n + d.length, 0));
  let off = 0;
  for (const d of data) joined.set(d, off), off += d.length;
  const raw = new Uint8Array(inflateSync(joined));
  const stride = width * channels;
  if (raw.length < height * (stride + 1)) throw new Error("Truncated PNG data");
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = pixels.subarray(y * stride, (y + 1) * stride);
    const up = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? row[i - channels]! : 0;
      const b = up[i]!;
      const c = i >= channels ? up[i - channels]! : 0;
      let predicted: number;
      switch (filter) {
        case 0:
          predicted = 0;
          break;
        case 1:
          predicted = a;
          break;
        case 2:
          predicted = b;
          break;
        case 3:
          predicted = (a + b) >> 1;
          break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
          predicted = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default:
          throw new Error(`Bad PNG filter ${filter} on row ${y}`);
      }
      row[i] = (src[i]! + predicted) & 0xff;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    const s = p * channels;
    const grey = channels <= 2;
    rgba[p * 4] = pixels[s]!;
    rgba[p * 4 + 1] = grey ? pixels[s]! : pixels[s + 1]!;
    rgba[p * 4 + 2] = grey ? pixels[s]! : pixels[s + 2]!;
    rgba[p * 4 + 3] = channels === 4 ? pixels[s + 3]! : channels === 2 ? pixels[s + 1]! : 255;
  }
  return { width, height, rgba };
}

/**
 * Counts the pixels within `tolerance` (per channel) of a colour.
 *
 * @param image The image.
 * @param hex The colour, `#rrggbb`.
 * @param tolerance Largest difference per channel.
 * @returns How many pixels match.
 */
export function countColour(image: Image, hex: string, tolerance = 16): number {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  let n = 0;
  const px = image.rgba;
  for (let i = 0; i < px.length; i += 4) {
    if (
      Math.abs(px[i]! - r!) <= tolerance && Math.abs(px[i + 1]! - g!) <= tolerance &&
      Math.abs(px[i + 2]! - b!) <= tolerance
    ) n++;
  }
  return n;
}
