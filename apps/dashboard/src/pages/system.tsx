import type { RedisNode, SystemHealth } from '../api/types';
import { CardSection, PolledPage } from '../components/polled-page';
import { useDashboard } from '../context';
import { formatBytes, formatCount, formatDuration } from '../format';
import { usePolledRequest } from '../use-request';

const REFRESH_MS = 2000;

/** Redis's health, per node, and how far the history in PostgreSQL is behind. */
export function System() {
  const { client } = useDashboard();
  const system = usePolledRequest('system', (signal) => client.get<SystemHealth>('/system', {}, signal), REFRESH_MS);

  return (
    <PolledPage title="System" request={system}>
      {(health) => (
        <>
          <CardSection id="redis-title" title="Redis">
            <RedisNodes nodes={health.redis.nodes} />
          </CardSection>
          <CardSection id="history-title" title="History on its way to PostgreSQL">
            <HistoryTable history={health.history} />
          </CardSection>
        </>
      )}
    </PolledPage>
  );
}

/** Memory as used, of the limit when there is one. */
function memoryOf(node: RedisNode): string {
  if (node.maxMemoryBytes === 0) return `${formatBytes(node.usedMemoryBytes)} (no limit)`;
  return `${formatBytes(node.usedMemoryBytes)} of ${formatBytes(node.maxMemoryBytes)} (${Math.round((node.usedMemoryBytes / node.maxMemoryBytes) * 100)}%)`;
}

function RedisNodes({ nodes }: { nodes: RedisNode[] }) {
  const evicting = nodes.filter((node) => node.maxMemoryPolicy !== 'noeviction');
  return (
    <>
      {evicting.length > 0 && (
        <p className="card-warning" role="status">
          {evicting.map((node) => node.name).join(', ')}: maxmemory-policy is {evicting[0]?.maxMemoryPolicy}, not noeviction; Redis may evict jobs when its memory is full.
        </p>
      )}
      <div className="table-wrap">
        <table className="redis-nodes">
          <thead>
            <tr>
              <th scope="col">Node</th>
              <th scope="col">Role</th>
              <th scope="col">Version</th>
              <th scope="col" className="num">Memory</th>
              <th scope="col" className="num">Ops/s</th>
              <th scope="col" className="num">Clients</th>
              <th scope="col" className="num">Up for</th>
            </tr>
          </thead>
          <tbody>
            {nodes.map((node) => (
              <tr key={node.name} data-redis-node={node.name}>
                <th scope="row">{node.name}</th>
                <td>{node.role}</td>
                <td>{node.version}</td>
                <td className="num">{memoryOf(node)}</td>
                <td className="num">{formatCount(node.opsPerSecond)}</td>
                <td className="num">{formatCount(node.connectedClients)}</td>
                <td className="num">{formatDuration(node.uptimeSeconds * 1000)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function HistoryTable({ history }: { history: SystemHealth['history'] }) {
  return (
    <>
      <p data-history-backlog={history.backlog}>
        {formatCount(history.backlog)} {history.backlog === 1 ? 'entry waits' : 'entries wait'} in Redis; the oldest is {formatDuration(history.lagMs)} old
        {history.setAside > 0 && `; ${formatCount(history.setAside)} set aside, refused by PostgreSQL for their content`}.
      </p>
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Queue</th>
              <th scope="col" className="num">Backlog</th>
              <th scope="col" className="num">Lag</th>
              <th scope="col" className="num">Set aside</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(history.queues).map(([queue, backlog]) => (
              <tr key={queue}>
                <th scope="row">{queue}</th>
                <td className="num">{formatCount(backlog.backlog)}</td>
                <td className="num">{formatDuration(backlog.lagMs)}</td>
                <td className="num">{formatCount(backlog.setAside)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
