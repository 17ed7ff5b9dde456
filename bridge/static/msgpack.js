// MessagePack codec for the MotionBridge page (no libraries: the page must work offline).
//
// decode(Uint8Array) -> value: maps become plain objects, `bin` becomes a Uint8Array *view* into the frame
// (no copy), str8/16/32 are UTF-8 decoded, 64-bit integers become Numbers (exact up to 2^53).
// encode(value) -> Uint8Array: what the page sends (small request maps), so only the types it needs:
// null, booleans, integers, floats (float64), strings, arrays, plain objects and Uint8Array (bin).

const utf8Decoder = new TextDecoder("utf-8");
const utf8Encoder = new TextEncoder();

/** A frame that is not valid MessagePack (truncated, or a reserved type byte). */
export class MsgpackError extends Error {}

export function decode(bytes) {
  if (!(bytes instanceof Uint8Array)) bytes = new Uint8Array(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;

  function need(n) {
    if (pos + n > bytes.length) throw new MsgpackError(`truncated MessagePack frame at byte ${pos}`);
  }
  function str(n) {
    need(n);
    const s = utf8Decoder.decode(bytes.subarray(pos, pos + n));
    pos += n;
    return s;
  }
  function bin(n) {
    need(n);
    const b = bytes.subarray(pos, pos + n);
    pos += n;
    return b;
  }
  function array(n) {
    const out = new Array(n);
    for (let i = 0; i < n; i++) out[i] = value();
    return out;
  }
  function map(n) {
    const out = {};
    for (let i = 0; i < n; i++) {
      const k = value();
      out[k] = value();
    }
    return out;
  }
  function ext(n) {
    need(1 + n);
    const type = view.getInt8(pos);
    pos += 1;
    return { ext: type, data: bin(n) };
  }
  function u8() { need(1); return bytes[pos++]; }
  function u16() { need(2); const v = view.getUint16(pos); pos += 2; return v; }
  function u32() { need(4); const v = view.getUint32(pos); pos += 4; return v; }

  function value() {
    const t = u8();
    if (t <= 0x7f) return t;
    if (t >= 0xe0) return t - 0x100;
    if (t >= 0xa0 && t <= 0xbf) return str(t & 0x1f);
    if (t >= 0x90 && t <= 0x9f) return array(t & 0x0f);
    if (t >= 0x80 && t <= 0x8f) return map(t & 0x0f);
    let v;
    switch (t) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return bin(u8());
      case 0xc5: return bin(u16());
      case 0xc6: return bin(u32());
      case 0xc7: return ext(u8());
      case 0xc8: return ext(u16());
      case 0xc9: return ext(u32());
      case 0xca: need(4); v = view.getFloat32(pos); pos += 4; return v;
      case 0xcb: need(8); v = view.getFloat64(pos); pos += 8; return v;
      case 0xcc: return u8();
      case 0xcd: return u16();
      case 0xce: return u32();
      case 0xcf: need(8); v = Number(view.getBigUint64(pos)); pos += 8; return v;
      case 0xd0: need(1); v = view.getInt8(pos); pos += 1; return v;
      case 0xd1: need(2); v = view.getInt16(pos); pos += 2; return v;
      case 0xd2: need(4); v = view.getInt32(pos); pos += 4; return v;
      case 0xd3: need(8); v = Number(view.getBigInt64(pos)); pos += 8; return v;
      case 0xd4: return ext(1);
      case 0xd5: return ext(2);
      case 0xd6: return ext(4);
      case 0xd7: return ext(8);
      case 0xd8: return ext(16);
      case 0xd9: return str(u8());
      case 0xda: return str(u16());
      case 0xdb: return str(u32());
      case 0xdc: return array(u16());
      case 0xdd: return array(u32());
      case 0xde: return map(u16());
      case 0xdf: return map(u32());
      default: throw new MsgpackError(`reserved MessagePack type byte 0x${t.toString(16)} at ${pos - 1}`);
    }
  }

  const result = value();
  if (pos !== bytes.length) throw new MsgpackError(`${bytes.length - pos} trailing bytes after MessagePack value`);
  return result;
}

export function encode(value) {
  const chunks = [];
  let size = 0;
  function push(arr) { chunks.push(arr); size += arr.length; }
  function head(...b) { push(Uint8Array.from(b)); }
  function withView(n, write) {
    const a = new Uint8Array(n);
    write(new DataView(a.buffer));
    push(a);
  }

  function integer(v) {
    if (v >= 0) {
      if (v <= 0x7f) head(v);
      else if (v <= 0xff) head(0xcc, v);
      else if (v <= 0xffff) withView(3, (d) => { d.setUint8(0, 0xcd); d.setUint16(1, v); });
      else if (v <= 0xffffffff) withView(5, (d) => { d.setUint8(0, 0xce); d.setUint32(1, v); });
      else withView(9, (d) => { d.setUint8(0, 0xcf); d.setBigUint64(1, BigInt(v)); });
    } else if (v >= -32) head(v & 0xff);
    else if (v >= -0x80) withView(2, (d) => { d.setUint8(0, 0xd0); d.setInt8(1, v); });
    else if (v >= -0x8000) withView(3, (d) => { d.setUint8(0, 0xd1); d.setInt16(1, v); });
    else if (v >= -0x80000000) withView(5, (d) => { d.setUint8(0, 0xd2); d.setInt32(1, v); });
    else withView(9, (d) => { d.setUint8(0, 0xd3); d.setBigInt64(1, BigInt(v)); });
  }
  function string(s) {
    const b = utf8Encoder.encode(s);
    const n = b.length;
    if (n <= 31) head(0xa0 | n);
    else if (n <= 0xff) head(0xd9, n);
    else if (n <= 0xffff) withView(3, (d) => { d.setUint8(0, 0xda); d.setUint16(1, n); });
    else withView(5, (d) => { d.setUint8(0, 0xdb); d.setUint32(1, n); });
    push(b);
  }
  function lengthHead(n, fix, fixMax, t16, t32) {
    if (n <= fixMax) head(fix | n);
    else if (n <= 0xffff) withView(3, (d) => { d.setUint8(0, t16); d.setUint16(1, n); });
    else withView(5, (d) => { d.setUint8(0, t32); d.setUint32(1, n); });
  }
  function any(v) {
    if (v === null || v === undefined) head(0xc0);
    else if (v === true) head(0xc3);
    else if (v === false) head(0xc2);
    else if (typeof v === "number") {
      if (Number.isSafeInteger(v)) integer(v);
      else withView(9, (d) => { d.setUint8(0, 0xcb); d.setFloat64(1, v); });
    } else if (typeof v === "string") string(v);
    else if (v instanceof Uint8Array) {
      const n = v.length;
      if (n <= 0xff) head(0xc4, n);
      else if (n <= 0xffff) withView(3, (d) => { d.setUint8(0, 0xc5); d.setUint16(1, n); });
      else withView(5, (d) => { d.setUint8(0, 0xc6); d.setUint32(1, n); });
      push(v);
    } else if (Array.isArray(v)) {
      lengthHead(v.length, 0x90, 15, 0xdc, 0xdd);
      v.forEach(any);
    } else if (typeof v === "object") {
      // undefined fields are left out, as JSON.stringify does, so optional request fields can stay unset.
      const keys = Object.keys(v).filter((k) => v[k] !== undefined);
      lengthHead(keys.length, 0x80, 15, 0xde, 0xdf);
      for (const k of keys) { string(k); any(v[k]); }
    } else throw new TypeError(`cannot encode ${typeof v} as MessagePack`);
  }

  any(value);
  const out = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) { out.set(c, off); off += c.length; }
  return out;
}
