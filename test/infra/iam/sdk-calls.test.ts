import { NO_IAM, OPERATOR_ONLY, RUNTIME_CALLS } from './runtime-calls';
import { leanClientOperations, sdkCallsIn } from './sdk-calls';

/**
 * A new AWS call in `lambda/` cannot land without a row in the runtime table (`runtime-calls.ts`),
 * which the IAM simulation proves against the synthesized policies; and the table names no call the
 * code no longer makes.
 */
describe('AWS SDK calls in lambda/', () => {
  const found = sdkCallsIn('lambda');
  const tabled = new Set(
    RUNTIME_CALLS.flatMap((row) => row.sources).filter((s) => s.startsWith('lambda/')),
  );
  const operatorOnly = new Set([...Object.keys(OPERATOR_ONLY), ...Object.keys(NO_IAM)]);

  it('finds the calls (commands, paginators, managed uploads) with the function that sends each', () => {
    expect(found.length).toBeGreaterThan(100);
    expect(found).toContain(
      'lambda/inference/backends/sagemaker-backend.ts#stream: InvokeEndpointWithResponseStreamCommand',
    );
    // A presigned URL is authorized as its command, with the signer's role.
    expect(found).toContain('lambda/files/file-storage.ts#downloadUrl: GetObjectCommand');
  });

  it('has a row of the runtime table (or is an operator-only call, or one IAM does not authorize) for every call', () => {
    const missing = found.filter((call) => !tabled.has(call) && !operatorOnly.has(call));
    expect(missing).toEqual([]);
  });

  it('lists no call in the table that the code does not make', () => {
    const present = new Set(found);
    const stale = [...tabled, ...operatorOnly].filter((call) => !present.has(call));
    expect(stale).toEqual([]);
  });

  it('has rows for each operation the lean DynamoDB client sends itself', () => {
    const operations = leanClientOperations();
    expect(operations).toEqual(
      expect.arrayContaining(['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query']),
    );
    const actions = new Set(RUNTIME_CALLS.map((row) => row.action));
    expect(operations.filter((op) => !actions.has(`dynamodb:${op}`))).toEqual([]);
  });
});
