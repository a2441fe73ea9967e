import * as z from 'zod/mini';

/**
 * The building blocks every response shape uses. zod/mini, as the request bodies: the shapes are
 * bundled into the API function, which builds `/openapi.json` from them (docs/decisions.md, "Response
 * shapes in zod/mini").
 */

/** A count, a size or a Unix time in seconds. */
export const count = () => z.int().check(z.minimum(0));
export const nullableCount = () => z.nullable(count());
export const usdNumber = () => z.number().check(z.minimum(0));
/** `2026-12-07`, a UTC day. */
export const day = () => z.string().check(z.regex(/^\d{4}-\d{2}-\d{2}$/));
/** USD as an exact decimal string with 6 decimals (`0.000150`), so no float rounds a bill. */
export const usdString = () =>
  z
    .string()
    .check(z.regex(/^\d+\.\d{6}$/), z.meta({ description: 'USD as an exact decimal string' }));
/** Free-form string pairs, as OpenAI's `metadata`. */
export const metadata = () => z.nullable(z.record(z.string(), z.string()));
