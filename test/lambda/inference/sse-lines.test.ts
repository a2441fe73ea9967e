import fc from 'fast-check';
import {
  PayloadLineParser,
  parsePayloadChunks,
  payloadOfLine,
} from '../../../lambda/inference/backends/sse-lines';

const encode = (text: string) => new TextEncoder().encode(text);

/** `bytes` cut at the given offsets (sorted, deduplicated, possibly empty pieces). */
function splitAt(bytes: Uint8Array, offsets: number[]): Uint8Array[] {
  const cuts = [...new Set(offsets)].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let start = 0;
  for (const cut of cuts) {
    pieces.push(bytes.subarray(start, cut));
    start = cut;
  }
  pieces.push(bytes.subarray(start));
  return pieces;
}

describe('payloadOfLine', () => {
  it.each([
    ['{"a":1}', '{"a":1}'],
    ['data: {"a":1}', '{"a":1}'],
    ['data:{"a":1}', '{"a":1}'],
    ['data: {"a":1}\r', '{"a":1}'],
    ['data: [DONE]', '[DONE]'],
    ['[DONE]', '[DONE]'],
  ])('reads the payload of %j', (line, expected) => {
    const payload = payloadOfLine(line);

    expect(payload).toBe(expected);
  });

  it.each([
    '',
    '   ',
    '\r',
    ': keep-alive',
    ':',
    'event: message',
    'id: 7',
    'retry: 3000',
    'data:',
    'data: ',
  ])('finds no payload in %j', (line) => {
    const payload = payloadOfLine(line);

    expect(payload).toBeUndefined();
  });
});

describe('PayloadLineParser', () => {
  it('returns LMI JSON lines (no prefix) as they complete', () => {
    const parser = new PayloadLineParser();

    const first = parser.push(encode('{"n":1}\n{"n":2}\n{"n"'));
    const second = parser.push(encode(':3}\n'));

    expect(first).toEqual({ payloads: ['{"n":1}', '{"n":2}'], done: false });
    expect(second).toEqual({ payloads: ['{"n":3}'], done: false });
  });

  it('reads SSE with CRLF line endings, comments and other fields, and stops at [DONE]', () => {
    const body =
      ': keep-alive\r\n\r\nevent: message\r\nid: 1\r\ndata: {"n":1}\r\n\r\ndata:{"n":2}\r\n\r\ndata: [DONE]\r\n\r\n';
    const parser = new PayloadLineParser();

    const parsed = parser.push(encode(body));

    expect(parsed).toEqual({ payloads: ['{"n":1}', '{"n":2}'], done: true });
  });

  it('ignores everything after [DONE], in the same chunk and later ones', () => {
    const parser = new PayloadLineParser();

    const first = parser.push(encode('data: {"n":1}\ndata: [DONE]\ndata: {"n":2}\n'));
    const later = parser.push(encode('data: {"n":3}\n'));
    const end = parser.end();

    expect(first).toEqual({ payloads: ['{"n":1}'], done: true });
    expect(later).toEqual({ payloads: [], done: true });
    expect(end).toEqual({ payloads: [], done: true });
  });

  it('keeps a multi-byte character split across chunks intact', () => {
    const bytes = encode('{"content":"café 🚀"}\n');
    const emojiStart = bytes.indexOf(0xf0);
    const eAcuteStart = bytes.indexOf(0xc3);
    const parser = new PayloadLineParser();

    const pieces = splitAt(bytes, [eAcuteStart + 1, emojiStart + 2]).map((piece) =>
      parser.push(piece),
    );

    expect(pieces.flatMap((piece) => piece.payloads)).toEqual(['{"content":"café 🚀"}']);
  });

  it('flushes a last line that has no line break at the end of the stream', () => {
    const parser = new PayloadLineParser();

    const pushed = parser.push(encode('{"n":1}\n{"n":2}'));
    const end = parser.end();

    expect(pushed).toEqual({ payloads: ['{"n":1}'], done: false });
    expect(end).toEqual({ payloads: ['{"n":2}'], done: false });
  });

  it('reports [DONE] on a last line without a line break', () => {
    const parser = new PayloadLineParser();

    parser.push(encode('data: {"n":1}\n\ndata: [DONE]'));
    const end = parser.end();

    expect(end).toEqual({ payloads: [], done: true });
  });
});

describe('parsePayloadChunks: splitting never changes the result', () => {
  const jsonDocument = fc
    .record({ id: fc.string(), content: fc.string({ unit: 'grapheme' }), n: fc.integer() })
    .map((value) => JSON.stringify(value));
  const line = fc.oneof(
    jsonDocument,
    jsonDocument.map((json) => `data: ${json}`),
    jsonDocument.map((json) => `data:${json}`),
    fc.constantFrom('', ': keep-alive', 'event: message', 'id: 42', 'retry: 1000', 'data: [DONE]'),
  );
  const body = fc
    .tuple(fc.array(line, { maxLength: 20 }), fc.constantFrom('\n', '\r\n'), fc.boolean())
    .map(([lines, lineBreak, trailingBreak]) =>
      encode(lines.join(lineBreak) + (trailingBreak ? lineBreak : '')),
    );

  it('gives the same payloads for a stream body fed whole or in any chunks', () => {
    fc.assert(
      fc.property(
        body.chain((bytes) =>
          fc.tuple(fc.constant(bytes), fc.array(fc.integer({ min: 0, max: bytes.length }))),
        ),
        ([bytes, offsets]) => {
          const whole = parsePayloadChunks([bytes]);

          const chunked = parsePayloadChunks(splitAt(bytes, offsets));

          expect(chunked).toEqual(whole);
        },
      ),
    );
  });

  it('gives the same result for arbitrary bytes (invalid UTF-8 included) fed whole or in any chunks', () => {
    fc.assert(
      fc.property(
        fc
          .uint8Array({ maxLength: 200 })
          .chain((bytes) =>
            fc.tuple(fc.constant(bytes), fc.array(fc.integer({ min: 0, max: bytes.length }))),
          ),
        ([bytes, offsets]) => {
          const whole = parsePayloadChunks([bytes]);

          const chunked = parsePayloadChunks(splitAt(bytes, offsets));

          expect(chunked).toEqual(whole);
        },
      ),
    );
  });

  it('returns every JSON document of a body without [DONE], in order', () => {
    fc.assert(
      fc.property(fc.array(jsonDocument, { maxLength: 10 }), (documents) => {
        const bytes = encode(documents.map((json) => `data: ${json}\n\n`).join(''));

        const parsed = parsePayloadChunks([bytes]);

        expect(parsed).toEqual({ payloads: documents, done: false });
      }),
    );
  });
});
