import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as r,c as t,d as m}from"./chunks/chunk-ONSZYSL2.js";import"./chunks/chunk-VZCKJGJB.js";import{e as o}from"./chunks/chunk-CNTGFOLN.js";import"./chunks/chunk-OF5XJCVC.js";import"./chunks/chunk-67BG23Y2.js";var i=r(process.env);o(i);await m(i,()=>t());
