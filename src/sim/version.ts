// The ArangoDB version the simulated members report.
export const SIM_VERSION = '3.12.4';
export const SIM_VERSION_NUMBER = 31204;
