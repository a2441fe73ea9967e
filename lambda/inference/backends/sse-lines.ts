/**
 * Incremental parser for the streamed bodies of model containers. One parser covers both formats
 * SageMaker relays byte for byte:
 * - LMI (vLLM async mode): one JSON object per line, no prefix;
 * - TGI and OpenAI-compatible servers: server-sent events (`data: {...}`, `: keep-alive`, `data:
 *   [DONE]`).
 *
 * The transport cuts the body wherever it likes, so a JSON line, and even a multi-byte UTF-8
 * character, can arrive split across chunks: bytes are decoded in streaming mode and only complete
 * lines are interpreted.
 *
 * Deliberate simplification of SSE: every `data:` line is one payload. The containers we serve put
 * one JSON document on one `data:` line, so multi-line `data:` events (joined by blank lines) are
 * not reassembled.
 */

/** What a chunk of bytes completed: JSON payload strings, and whether the end-of-stream marker was seen. */
export interface ParsedPayloads {
  payloads: string[];
  /** True once `[DONE]` was read: later bytes are ignored. */
  done: boolean;
}

const END_OF_STREAM_MARKER = '[DONE]';
const DATA_FIELD = 'data:';
/** SSE fields that carry no payload: the containers we serve send every document as `data:`. */
const IGNORED_SSE_FIELDS = ['event:', 'id:', 'retry:'];

export class PayloadLineParser {
  private readonly decoder = new TextDecoder('utf-8');
  /** Decoded text after the last line break: the beginning of a line still arriving. */
  private partialLine = '';
  private endMarkerSeen = false;

  /** Feeds the next bytes of the body; returns the payloads of the lines they completed. */
  push(bytes: Uint8Array): ParsedPayloads {
    if (this.endMarkerSeen) return { payloads: [], done: true };
    // `stream: true` keeps an incomplete UTF-8 sequence at the end of `bytes` for the next call.
    const text = this.partialLine + this.decoder.decode(bytes, { stream: true });
    const lines = text.split('\n');
    // The text after the last `\n` is not a line yet; `split` always returns at least one element.
    this.partialLine = lines.pop() ?? '';
    return this.interpret(lines);
  }

  /** Ends the body: a last line without a trailing line break still counts. */
  end(): ParsedPayloads {
    if (this.endMarkerSeen) return { payloads: [], done: true };
    const text = this.partialLine + this.decoder.decode();
    this.partialLine = '';
    return this.interpret(text.split('\n'));
  }

  private interpret(lines: string[]): ParsedPayloads {
    const payloads: string[] = [];
    for (const line of lines) {
      const payload = payloadOfLine(line);
      if (payload === undefined) continue;
      if (payload === END_OF_STREAM_MARKER) {
        this.endMarkerSeen = true;
        this.partialLine = '';
        break;
      }
      payloads.push(payload);
    }
    return { payloads, done: this.endMarkerSeen };
  }
}

/** The payload a line carries, or undefined for lines that carry none (blank, comment, other SSE fields). */
export function payloadOfLine(rawLine: string): string | undefined {
  // `trim` also drops the `\r` of `\r\n` line endings.
  const line = rawLine.trim();
  if (line === '' || line.startsWith(':')) return undefined;
  if (line.startsWith(DATA_FIELD)) {
    const data = line.slice(DATA_FIELD.length).trim();
    return data === '' ? undefined : data;
  }
  if (IGNORED_SSE_FIELDS.some((field) => line.startsWith(field))) return undefined;
  return line;
}

/** Parses a whole body given as chunks: the same result however the bytes are split. */
export function parsePayloadChunks(chunks: Iterable<Uint8Array>): ParsedPayloads {
  const parser = new PayloadLineParser();
  const payloads: string[] = [];
  for (const chunk of chunks) {
    const parsed = parser.push(chunk);
    payloads.push(...parsed.payloads);
    if (parsed.done) return { payloads, done: true };
  }
  const last = parser.end();
  payloads.push(...last.payloads);
  return { payloads, done: last.done };
}
