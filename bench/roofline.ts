/** Placeholder until the engine suite lands: the real measurement lives in the engine bench. */
export async function measureRoofline(): Promise<number> {
  return NaN;
}
