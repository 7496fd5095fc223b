import remote from './remote.js';

export const { serve, RemotePool } = remote;
export default remote;
