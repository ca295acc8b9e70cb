/** WebSocket close codes ATLAS uses; documented in docs/protocol.md. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  messageTooBig: 1009,
  internalError: 1011,
  tokenExpired: 4001,
  tokenRevoked: 4003,
  slowConsumer: 4008,
} as const;
