/**
 * The transport contract suite on a transport derived from `ToyDriver`, an array-backed broker
 * that implements only the driver SPI: the proof that the SPI is enough for a full transport.
 */
import { deriveTransport } from '@switchyard/core/spi'
import { transportContract } from '../index.js'
import { ToyDriver } from './toy-driver.js'

transportContract('toy driver through deriveTransport', () => deriveTransport(new ToyDriver()))
