// native-workers/cluster mirrors node:cluster (Node 20): the same module
// object, events, settings and Worker, so it reuses Node's own
// declarations. Workers are started by native-workers' fork() and talk to
// the primary over its shared-memory channel.
import cluster from 'cluster';

export default cluster;

export type {
  Cluster,
  ClusterSettings,
  Address,
  Worker,
} from 'cluster';
