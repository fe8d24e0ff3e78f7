import { SSM_THROUGHPUT } from '../sandbox/emulator/index.ts';
import { startSandbox } from '../sandbox/sandbox.ts';
import { measureDeployCalls, runQuotaScenario, scenarioSizes, seededRandom, seedFleet } from './scale.ts';

type Goal = (name: string, met: boolean) => void;

const fixed = (value: number) => (Number.isFinite(value) ? value.toFixed(1) : '-');

/** The scale section of `npm run bench`: calls per push and per deploy, then the quota scenario. */
export async function printScaleFigures(goal: Goal): Promise<void> {
  console.log(
    '\n5. Calls of one push and one happy deploy, by fleet size (same fan-out: 1 app/environment per repository)',
  );
  const rows = [];
  for (const appEnvs of [3, 1000]) {
    const sandbox = await startSandbox({ speed: 50 });
    const repositories = await seedFleet(sandbox, { appEnvs, repositories: appEnvs });
    const short = await measureDeployCalls(sandbox, repositories[0] ?? '', 30, 'v1.0.1');
    const long = await measureDeployCalls(sandbox, repositories[1] ?? '', 300, 'v1.0.1');
    await sandbox.close();
    rows.push({ appEnvs, short, long });
  }
  console.table(
    rows.map(({ appEnvs, short, long }) => ({
      'app/environments': appEnvs,
      'calls to route the push': short.perPush,
      'calls per deploy (30 s rollout)': fixed(short.perDeploy),
      'calls per deploy (300 s rollout)': fixed(long.perDeploy),
    })),
  );
  console.log('Calls of one deploy by API (1,000 app/environments, 30 s rollout):');
  console.table(rows.at(-1)?.short.byApi);
  const pushCalls = rows.map(({ short }) => short.perPush);
  const deployCalls = rows.flatMap(({ short, long }) => [short.perDeploy, long.perDeploy]);
  goal('calls to route a push equal at 3 and 1,000 app/environments', new Set(pushCalls).size === 1);
  goal(
    'calls per deploy equal for a 10x longer rollout',
    rows.every(({ short, long }) => short.perDeploy === long.perDeploy),
  );
  goal(
    'calls per deploy <= 25',
    deployCalls.every((calls) => calls <= 25),
  );

  console.log('\n6. Calls to route one push against its fan-out (1,000 app/environments in the fleet)');
  const sandbox = await startSandbox({ speed: 50 });
  await seedFleet(sandbox, { appEnvs: 1000 - 36, repositories: 482 });
  const fanOut = [];
  for (const width of [1, 5, 10, 20]) {
    const [repository] = await seedFleet(sandbox, { appEnvs: width, repositories: 1 }, `fan${width}-`);
    const figures = await measureDeployCalls(sandbox, repository ?? '', 30, 'v1.0.1');
    fanOut.push({
      'fan-out': width,
      'calls to route the push': figures.perPush,
      'calls per deploy': fixed(figures.perDeploy),
    });
  }
  await sandbox.close();
  console.table(fanOut);
  console.log(
    '(one index read, GetParameters for 2 names per app/environment, 10 a call, one StartExecution each)',
  );

  const full = process.env.BENCH_SCALE !== 'reduced';
  const options = scenarioSizes[full ? 'full' : 'reduced'];
  console.log(
    `\n7. Where the quotas bind: ${options.appEnvs} app/environments over ${options.repositories} repositories, pushes ramped ${options.startPerMinute} -> ${options.endPerMinute} a minute over ${options.minutes} simulated minutes, bursts of ${options.burst} within a second, ${options.duplicateShare * 100}% delivered twice`,
  );
  // Virtual time: simulated time moves only when the sandbox has caught up with its work, so the
  // quotas meet the load the scenario asks for whatever this machine's speed.
  const began = performance.now();
  const scenarioSandbox = await startSandbox({ time: 'virtual', random: seededRandom(5) });
  const figures = await runQuotaScenario(scenarioSandbox, options);
  await scenarioSandbox.close();
  const wallSeconds = (performance.now() - began) / 1000;
  const writesPerDeploy = figures.perDeploy['ssm:PutParameter'] ?? 1;
  console.table({
    pushes: figures.pushes,
    'deliveries (duplicates included)': figures.deliveries,
    'app/environment requests': figures.requested,
    'executions started': figures.started,
    'push -> deploy started p50 (simulated s)': fixed(figures.latency.p50),
    'push -> deploy started p99 (simulated s)': fixed(figures.latency.p99),
    'push -> release recorded p50 / p99 / max (simulated s)': [
      figures.liveLatency.p50,
      figures.liveLatency.p99,
      figures.liveLatency.max,
    ]
      .map(fixed)
      .join(' / '),
    'deploys recorded, busiest minute (sustained rate)': figures.deploysPerMinute.sustained,
    'deploys recorded per minute': figures.deploysPerMinute.perMinute.join(' '),
    'throttled first': figures.firstThrottled ?? 'none',
    'throttled most (binding quota)': figures.mostThrottled ?? 'none',
    'app/environments not on their newest push': figures.notNewest.length,
    'app/environments on a push of the same second as the newest': figures.tiedNewest.length,
    'wall time of the run (s)': wallSeconds.toFixed(0),
  });
  console.log('Executions by outcome:');
  console.table(figures.outcomes);
  console.log('Throttled calls by API:');
  console.table(figures.throttled);
  console.log('Most attempts of a retried state by one execution (budget: MaxAttempts + 1):');
  console.table(figures.mostAttempts);
  console.log('Calls per deploy by API over the run (throttled attempts excluded):');
  console.table(figures.perDeploy);
  console.log(
    `Sustained deploy rate Parameter Store's default write quota allows: ${SSM_THROUGHPUT.writes} PutParameter/s / ${writesPerDeploy} per deploy = ${Math.floor((SSM_THROUGHPUT.writes * 60) / writesPerDeploy)} deploys a minute`,
  );
  goal(
    'every push request got exactly one execution (none lost, duplicates dropped)',
    figures.started === figures.requested,
  );
  goal("every app/environment ends on its repository's newest push", figures.notNewest.length === 0);
  goal(
    'no execution failed in the scenario',
    Object.keys(figures.outcomes).every((outcome) => ['Deployed', 'Superseded'].includes(outcome)),
  );
}
