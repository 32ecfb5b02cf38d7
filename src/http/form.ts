import { HttpError } from './errors.js';

export const FORM = 'application/x-www-form-urlencoded';

const UTF8 = 'utf-8';
const PLUS = 0x2b;
const PERCENT = 0x25;
const AMPERSAND = 0x26;
const EQUALS = 0x3d;
const SPACE = 0x20;

/**
 * The encoding (a WHATWG name, e.g. `utf-8`, `windows-1252`) a form body is written in, from its
 * `Content-Type`; UTF-8 when no charset is given. Refuses another media type, and a charset that
 * `TextDecoder` does not know or that is not ASCII-compatible (UTF-16: `&`, `=` and `%` are no
 * longer single bytes), with 415 — checked from the header, before any body is read.
 */
export function formEncodingOf(contentType: string | undefined): string {
  const [mediaType = '', ...parameters] = (contentType ?? '').split(';');
  if (mediaType.trim().toLowerCase() !== FORM) {
    throw new HttpError(415, `Unsupported Content-Type: use ${FORM}.`);
  }
  const charset = charsetOf(parameters);
  if (charset === undefined) return UTF8;
  let encoding: string;
  try {
    encoding = new TextDecoder(charset).encoding;
  } catch {
    throw unsupportedCharset(charset);
  }
  if (encoding.startsWith('utf-16')) throw unsupportedCharset(charset);
  return encoding;
}

/**
 * The fields of an `application/x-www-form-urlencoded` body (WHATWG URL §5.1): `+` is a space,
 * `%XX` a byte, and the bytes of each name and value are decoded in `encoding`.
 */
export function parseForm(body: Buffer, encoding: string): URLSearchParams {
  // URLSearchParams implements exactly this parser, for UTF-8 only.
  if (encoding === UTF8) return new URLSearchParams(body.toString('utf8'));
  const decoder = decoderFor(encoding);
  const form = new URLSearchParams();
  let start = 0;
  while (start <= body.length) {
    let end = body.indexOf(AMPERSAND, start);
    if (end === -1) end = body.length;
    if (end > start) {
      const pair = body.subarray(start, end);
      const equals = pair.indexOf(EQUALS);
      const name = equals === -1 ? pair : pair.subarray(0, equals);
      const value = equals === -1 ? Buffer.alloc(0) : pair.subarray(equals + 1);
      form.append(decoder.decode(percentDecode(name)), decoder.decode(percentDecode(value)));
    }
    start = end + 1;
  }
  return form;
}

interface Decoder {
  decode(bytes: Uint8Array): string;
}

/**
 * WHATWG windows-1252 (also what the labels `iso-8859-1`, `latin1` and `ascii` mean) maps 0x80–0x9F
 * to `€`, `‚`, `ƒ`, …; some Node versions' TextDecoder decodes those bytes as Latin-1 control
 * characters instead, so that range comes from the standard's table when it does.
 */
const WINDOWS_1252_HIGH =
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';
const nativeWindows1252 = new TextDecoder('windows-1252').decode(Uint8Array.of(0x80)) === '\u20ac';
const windows1252: Decoder = {
  decode(bytes) {
    let text = '';
    for (const byte of bytes) {
      text += byte >= 0x80 && byte < 0xa0 ? WINDOWS_1252_HIGH[byte - 0x80] : String.fromCharCode(byte);
    }
    return text;
  },
};

function decoderFor(encoding: string): Decoder {
  return encoding === 'windows-1252' && !nativeWindows1252 ? windows1252 : new TextDecoder(encoding);
}

/** The bytes a form-encoded string stands for; a `%` not followed by two hex digits stays as is. */
function percentDecode(encoded: Buffer): Buffer {
  const bytes = Buffer.allocUnsafe(encoded.length);
  let length = 0;
  for (let i = 0; i < encoded.length; i++) {
    const byte = encoded[i] as number;
    if (byte === PLUS) {
      bytes[length++] = SPACE;
    } else if (byte === PERCENT && isHex(encoded[i + 1]) && isHex(encoded[i + 2])) {
      bytes[length++] = parseInt(encoded.toString('latin1', i + 1, i + 3), 16);
      i += 2;
    } else {
      bytes[length++] = byte;
    }
  }
  return bytes.subarray(0, length);
}

function isHex(byte: number | undefined): boolean {
  return (
    byte !== undefined &&
    ((byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66))
  );
}

/** The `charset` parameter, unquoted (RFC 9110 §5.6.6); undefined when there is none. */
function charsetOf(parameters: readonly string[]): string | undefined {
  for (const parameter of parameters) {
    const equals = parameter.indexOf('=');
    if (equals === -1 || parameter.slice(0, equals).trim().toLowerCase() !== 'charset') continue;
    const raw = parameter.slice(equals + 1).trim();
    return raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
  }
  return undefined;
}

function unsupportedCharset(charset: string): HttpError {
  return new HttpError(
    415,
    `Unsupported charset ${JSON.stringify(charset.slice(0, 100))}: send the form in UTF-8 or another ASCII-compatible WHATWG encoding.`,
  );
}
