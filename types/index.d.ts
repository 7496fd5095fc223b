export * as child_process from './child_process';
