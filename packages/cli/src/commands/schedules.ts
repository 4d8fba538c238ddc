import { clientFor, connectionOptions } from '../api-client.js';
import type { ScheduleRun, ScheduleView } from '../api-views.js';
import { UsageError, flag, stringOption, type ParsedArgs } from '../command-line.js';
import { EXIT, type Command } from '../command.js';
import { integerValue, jsonObjectValue } from '../option-values.js';
import { cell, printAnswer, table } from '../output.js';

const schedulePath = (name: string, action = '') => `/schedules/${encodeURIComponent(name)}${action}`;

/** How often a schedule ticks, in a few words. */
function timingOf(schedule: ScheduleView): string {
  return schedule.cron !== null ? `cron ${schedule.cron}${schedule.timezone === 'UTC' ? '' : ` (${schedule.timezone})`}` : `every ${schedule.everyMs} ms`;
}

function describeRun(run: ScheduleRun): string {
  if (run.status === 'missed') return `missed ${run.missedCount ?? 'many'} tick(s) up to ${run.lastTick ?? run.tick}`;
  return [run.jobId, run.reason].filter((part) => part !== null).join(': ');
}

/** A schedule, its next ticks and runs, as a person reads them. */
function describeSchedule(schedule: ScheduleView): string {
  const fields: [string, string][] = [
    ['name', schedule.name],
    ['timing', timingOf(schedule)],
    ['state', schedule.paused ? 'paused' : 'active'],
    ['job', `${schedule.job.type} on queue ${schedule.job.queue}, payload ${JSON.stringify(schedule.job.payload)}`],
    ['overlap', schedule.overlap],
    ['catch up', schedule.catchUp],
    ['next runs', schedule.nextRuns.join(', ') || 'none while paused'],
  ];
  const width = Math.max(...fields.map(([name]) => name.length));
  const runs = schedule.lastRuns.length === 0
    ? 'No runs yet.\n'
    : table(['TICK', 'KIND', 'STATUS', 'JOB OR WHY'], schedule.lastRuns.map((run) => [run.tick, run.kind, run.status, cell(describeRun(run), 80)]));
  return `${fields.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n')}\n\nLast runs\n${runs}`;
}

/** POST /schedules's body from the options of `schedules add`. */
function definitionOf(args: ParsedArgs): Record<string, unknown> {
  const cron = stringOption(args, 'cron');
  const everyMs = integerValue('every-ms', stringOption(args, 'every-ms'), 1);
  if ((cron === undefined) === (everyMs === undefined)) throw new UsageError('give --cron or --every-ms (one of them)');
  const type = stringOption(args, 'type');
  if (type === undefined) throw new UsageError('give --type: the job type each tick adds');
  return {
    name: args.positionals[0],
    cron,
    everyMs,
    timezone: stringOption(args, 'timezone'),
    job: {
      type,
      payload: jsonObjectValue('payload', stringOption(args, 'payload') ?? '{}'),
      queue: stringOption(args, 'queue'),
      priority: integerValue('priority', stringOption(args, 'priority')),
      maxAttempts: integerValue('max-attempts', stringOption(args, 'max-attempts'), 1),
    },
    overlap: stringOption(args, 'overlap'),
    catchUp: stringOption(args, 'catch-up'),
    ...(flag(args, 'paused') && { paused: true }),
  };
}

const list: Command = {
  name: 'schedules list',
  summary: 'Lists the schedules with their next tick and last run (GET /schedules).',
  positionals: { min: 0, max: 0 },
  options: { cursor: { type: 'string', value: 'NAME', description: 'where the previous page ended (its nextCursor)' }, ...connectionOptions },
  examples: ['sluice schedules list'],
  async run(args, context) {
    const cursor = stringOption(args, 'cursor');
    const answer = await clientFor(args, context.env).get<{ schedules: ScheduleView[]; nextCursor: string | null }>('/schedules', { cursor });
    printAnswer(context.stdout, flag(args, 'json'), answer, ({ schedules, nextCursor }) => {
      const rows = schedules.map((schedule) => {
        const last = schedule.lastRuns[0];
        return [schedule.name, timingOf(schedule), schedule.paused ? 'paused' : 'active', schedule.job.type, schedule.nextRunAt ?? '', last ? `${last.status} ${last.tick}` : ''];
      });
      const listing = rows.length === 0 ? 'No schedules.\n' : table(['NAME', 'TIMING', 'STATE', 'TYPE', 'NEXT RUN', 'LAST RUN'], rows);
      return nextCursor ? `${listing}More: sluice schedules list --cursor ${nextCursor}\n` : listing;
    });
    return EXIT.ok;
  },
};

const show: Command = {
  name: 'schedules show',
  summary: 'Shows a schedule, its next ticks and its last runs with their jobs (GET /schedules/:name).',
  arguments: '<name>',
  positionals: { min: 1, max: 1 },
  options: connectionOptions,
  examples: ['sluice schedules show nightly-report'],
  async run(args, context) {
    const answer = await clientFor(args, context.env).get<ScheduleView>(schedulePath(args.positionals[0] ?? ''));
    printAnswer(context.stdout, flag(args, 'json'), answer, describeSchedule);
    return EXIT.ok;
  },
};

const add: Command = {
  name: 'schedules add',
  summary: 'Adds a schedule: a job at every tick of a cron or of --every-ms (POST /schedules).',
  details: 'Exactly one job per tick, however many workers and APIs run. A cron has 5 fields (minute first) or 6 (second first).',
  arguments: '<name>',
  positionals: { min: 1, max: 1 },
  options: {
    cron: { type: 'string', value: 'EXPR', description: 'a cron such as "*/5 * * * *"' },
    timezone: { type: 'string', value: 'ZONE', description: 'the IANA time zone the cron is read in (default UTC)' },
    'every-ms': { type: 'string', value: 'N', description: 'milliseconds between ticks, 1000 or more (instead of --cron)' },
    type: { type: 'string', value: 'TYPE', description: 'the job type each tick adds' },
    payload: { type: 'string', value: 'JSON', description: 'the job\'s input, a JSON object (default {})' },
    queue: { type: 'string', value: 'QUEUE', description: 'the queue to add the jobs to (default: the API\'s first queue)' },
    priority: { type: 'string', value: 'N', description: 'priority stored with each job, -1000 to 1000' },
    'max-attempts': { type: 'string', value: 'N', description: 'attempts of each job (default: its type\'s)' },
    overlap: { type: 'string', value: 'allow|skip', description: 'skip a tick while the previous run\'s job is unfinished (default allow)' },
    'catch-up': { type: 'string', value: 'none|latest|all', description: 'what ticks missed while nothing ran do (default none)' },
    paused: { type: 'boolean', description: 'add it paused' },
    ...connectionOptions,
  },
  examples: [
    'sluice schedules add nightly-report --cron "30 2 * * *" --timezone Europe/Berlin --type email --payload \'{"to":"ops@example.com","subject":"Report"}\'',
    'sluice schedules add heartbeat --every-ms 60000 --type noop',
  ],
  async run(args, context) {
    const answer = await clientFor(args, context.env).post<ScheduleView>('/schedules', definitionOf(args));
    printAnswer(context.stdout, flag(args, 'json'), answer, (schedule) =>
      `Added schedule ${schedule.name} (${timingOf(schedule)}): ${schedule.nextRunAt ? `next run ${schedule.nextRunAt}` : 'paused'}\n`);
    return EXIT.ok;
  },
};

function stateCommand(action: 'pause' | 'resume'): Command {
  return {
    name: `schedules ${action}`,
    summary: action === 'pause' ? 'Stops a schedule\'s ticks (POST /schedules/:name/pause).' : 'Lets a paused schedule tick again, from its next tick (POST /schedules/:name/resume).',
    arguments: '<name>',
    positionals: { min: 1, max: 1 },
    options: connectionOptions,
    examples: [`sluice schedules ${action} nightly-report`],
    async run(args, context) {
      const answer = await clientFor(args, context.env).post<ScheduleView>(schedulePath(args.positionals[0] ?? '', `/${action}`));
      printAnswer(context.stdout, flag(args, 'json'), answer, (schedule) =>
        schedule.paused ? `Schedule ${schedule.name} is paused.\n` : `Schedule ${schedule.name} is active: next run ${schedule.nextRunAt ?? ''}\n`);
      return EXIT.ok;
    },
  };
}

const trigger: Command = {
  name: 'schedules trigger',
  summary: 'Runs a schedule once now, paused or not (POST /schedules/:name/trigger).',
  arguments: '<name>',
  positionals: { min: 1, max: 1 },
  options: connectionOptions,
  examples: ['sluice schedules trigger nightly-report'],
  async run(args, context) {
    const answer = await clientFor(args, context.env).post<{ run: ScheduleRun }>(schedulePath(args.positionals[0] ?? '', '/trigger'));
    printAnswer(context.stdout, flag(args, 'json'), answer, ({ run }) =>
      run.status === 'created' ? `Triggered ${args.positionals[0] ?? ''}: job ${run.jobId ?? ''}\n` : `Triggered ${args.positionals[0] ?? ''}, but no job could be added: ${run.reason ?? ''}\n`);
    // A manual run that could add no job did not do what was asked.
    return answer.run.status === 'created' ? EXIT.ok : EXIT.failed;
  },
};

const remove: Command = {
  name: 'schedules remove',
  summary: 'Removes a schedule and its runs; the jobs it added stay (DELETE /schedules/:name).',
  arguments: '<name>',
  positionals: { min: 1, max: 1 },
  options: connectionOptions,
  examples: ['sluice schedules remove nightly-report'],
  async run(args, context) {
    const name = args.positionals[0] ?? '';
    await clientFor(args, context.env).delete(schedulePath(name));
    printAnswer(context.stdout, flag(args, 'json'), { name, removed: true }, () => `Removed schedule ${name}.\n`);
    return EXIT.ok;
  },
};

export const scheduleCommands: readonly Command[] = [list, show, add, stateCommand('pause'), stateCommand('resume'), trigger, remove];
