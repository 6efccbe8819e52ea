import { runServe } from './serve.ts';

export async function run(_args: string[]): Promise<number> {
  await runServe();
  return 0;
}
