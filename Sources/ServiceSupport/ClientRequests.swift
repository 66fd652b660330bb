import Logging
import MQTT

extension MQTTClient {
    /// Hands `subscriptions` to the session in the caller's order and logs the broker's answer
    /// when it comes: a refused filter (0x87 not authorized, say) is an error the operator must
    /// see. No one waits for the SUBACK, which never comes while the broker is away.
    public func subscribe(_ subscriptions: [Subscription], loggingAnswersTo logger: Logger) {
        guard !subscriptions.isEmpty else { return }
        requestSubscription(subscriptions).whenComplete { result in
            switch result {
            case .success(let codes):
                for (subscription, code) in zip(subscriptions, codes) where code.isFailure {
                    logger.error("the broker refused the subscription to \(subscription.filter): \(code)")
                }
            case .failure(let error):
                logger.error("cannot subscribe: \(error)")
            }
        }
    }
}
