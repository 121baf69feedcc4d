/** What commands may do to the outside world; `index.ts` wires it to the process. */
export interface CliContext {
  stdout(line: string): void;
  stderr(line: string): void;
  setExitCode(code: number): void;
}
