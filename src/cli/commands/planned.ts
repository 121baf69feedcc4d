import type { Command } from 'commander';

import { UsageError } from '../../errors';

/** Commands of DESIGN §1 that are not built yet, with the issue that builds them. */
export const PLANNED_COMMANDS = Object.freeze([
  { name: 'animate', summary: 'animate an identity wearing borrowed attributes along a driving video', issue: 5 },
  { name: 'interpolate', summary: 'blend two attributes by a weight α (fixed or sweeping) in one pass', issue: 5 },
  { name: 'guide', summary: 'extract (and retarget) keypoint guidance from a video', issue: 5 },
  { name: 'batch', summary: 'run a JSONL list of jobs, sharded and resumable', issue: 5 },
] as const);

/** Registers each planned command, marked as such in `--help`; running one is a usage error. */
export function registerPlannedCommands(program: Command): void {
  for (const planned of PLANNED_COMMANDS) {
    program
      .command(planned.name)
      .description(`${planned.summary} [planned, not yet available]`)
      .allowUnknownOption()
      .allowExcessArguments()
      .action(() => {
        throw new UsageError(`\`durian ${planned.name}\` is not available yet (planned in issue ${planned.issue})`);
      });
  }
}
