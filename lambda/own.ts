/**
 * `record[key]` when `key` is one of the record's own properties, else undefined. Every lookup
 * whose key comes from a caller (a purpose, a model id, a tensor's module name) goes through this:
 * a plain object also answers `constructor`, `toString`, `__proto__`, `valueOf`, `hasOwnProperty`
 * from Object.prototype, which a bare `record[key]` takes for an allowed entry (issue 20:
 * `purpose=constructor` stored a file with no purpose).
 */
export function ownValue<V>(
  record: Readonly<Record<string, V>> | undefined,
  key: string,
): V | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}
