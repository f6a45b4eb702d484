"""char-rnn-classification with an optimizer: the notebook builds the RNN twice, the optimizer over the first one.

Source: https://github.com/spro/practical-pytorch/issues/9
Shape: notebook top level: `rnn = RNN(n_letters, n_hidden, n_categories)` after the class, `optimizer =
torch.optim.SGD(rnn.parameters(), lr=learning_rate)`, a `train(category_tensor, line_tensor)` function that uses the
global `rnn` and `optimizer`, then a later cell `rnn = RNN(n_letters, n_hidden, n_categories)` before the main loop
Batch: holdout-5
Note: the names dataset is stood in by random one-hot letter sequences with random categories; 20 iterations.
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_silent, changed  # noqa: E402

n_letters, n_hidden, n_categories = 12, 16, 4
learning_rate = 0.005


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super(RNN, self).__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(input_size + hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, input, hidden):
        combined = torch.cat((input, hidden), 1)
        hidden = self.i2h(combined)
        output = self.softmax(self.i2o(combined))
        return output, hidden

    def initHidden(self):
        return torch.zeros(1, self.hidden_size)


rnn = RNN(n_letters, n_hidden, n_categories)

criterion = nn.NLLLoss()
optimizer = torch.optim.SGD(rnn.parameters(), lr=learning_rate)


def train(category_tensor, line_tensor):
    hidden = rnn.initHidden()
    optimizer.zero_grad()
    for i in range(line_tensor.size()[0]):
        output, hidden = rnn(line_tensor[i], hidden)
    loss = criterion(output, category_tensor)
    loss.backward()
    optimizer.step()
    return output, loss.item()


def random_training_example():
    length = int(torch.randint(2, 6, (1,)))
    letters = torch.randint(0, n_letters, (length,))
    line_tensor = torch.zeros(length, 1, n_letters)
    line_tensor[torch.arange(length), 0, letters] = 1
    return torch.randint(0, n_categories, (1,)), line_tensor


torch.manual_seed(0)
rnn = RNN(n_letters, n_hidden, n_categories)  # expect: LL304
before = [p.detach().clone() for p in rnn.parameters()]
for iter in range(1, 21):
    category_tensor, line_tensor = random_training_example()
    output, loss = train(category_tensor, line_tensor)

bug_silent("the RNN that is trained never changes: the optimizer steps the first instance",
           not any(changed(b, p.detach()) for b, p in zip(before, rnn.parameters())))
