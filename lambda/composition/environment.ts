/** Reads a required environment variable once, with an error that names it (never `process.env.X!`). */
export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(
      `Environment variable ${name} is not set: the function's CDK construct must set it.`,
    );
  }
  return value;
}
