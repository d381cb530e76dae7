// QAnchorDaemon: the streaming daemon that ties Kafka, the store and the model together.
import QAnchorKafka
import QAnchorStore
import QAnchorModel
