// Moved to the projection (src/projection/) and the store's ids (src/store/ids.ts); re-exported here
// only until the parts being reworked alongside import them from there.
export { ENGINE_QUEUE } from '../projection/engine-jobs.ts';
export {
  insertContact,
  insertConversation,
  type NewContact,
  type NewConversation,
} from '../projection/statements.ts';
export { contactIdOf, conversationIdOf, messageIdOf } from '../store/ids.ts';
