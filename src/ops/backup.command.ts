export async function run(_args: string[]): Promise<number> {
  console.error('meshmon: not implemented yet');
  return 1;
}
